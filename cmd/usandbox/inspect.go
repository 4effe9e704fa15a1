package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/urfave/cli/v3"

	"usandbox/compat/docker"
	"usandbox/internal/format"
	"usandbox/lifecycle"
)

// Object types of inspect --type.
const (
	typeAll       = "all"
	typeContainer = "container"
	typeImage     = "image"
)

// inspectCommand is podman's inspect: sandboxes and images in docker's
// schema, as one JSON array or through --format. typ fixes the type
// (container inspect, image inspect); "" lets --type choose.
func inspectCommand() *cli.Command {
	return inspectCommandOf("", "show sandboxes and images in docker's schema")
}

func inspectCommandOf(typ, usage string) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "json (the default) or a Go template, such as '{{.State.Status}}'"},
	}
	if typ == "" {
		flags = append(flags, &cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: typeAll, Usage: "what to look for: container, image or all"})
	}
	return &cli.Command{
		Name:      "inspect",
		Usage:     usage,
		ArgsUsage: "NAME|ID...",
		Flags:     flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			t := typ
			if t == "" {
				t = cmd.String("type")
			}
			if t != typeAll && t != typeContainer && t != typeImage {
				return fmt.Errorf("invalid type %q: must be %q, %q, or %q", t, typeImage, typeContainer, typeAll)
			}
			if cmd.NArg() == 0 {
				return errors.New("no names or ids specified")
			}
			f := cmd.String("format")
			if f == "" {
				f = "json"
			}
			tmpl, err := format.Parse("inspect", f)
			if err != nil {
				return err
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			var out []any
			var errs []error
			for _, ref := range cmd.Args().Slice() {
				obj, err := inspectOne(ctx, e, t, ref)
				if err != nil {
					errs = append(errs, fmt.Errorf("inspecting object: %w", err))
					continue
				}
				out = append(out, obj)
			}
			if out == nil {
				out = []any{}
			}
			if len(out) > 0 || format.IsJSON(f) {
				if err := tmpl.Execute(os.Stdout, out, nil); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
}

// inspectOne finds ref as podman does: a sandbox first, then an image
// (--type all), with podman's words for what is not there.
func inspectOne(ctx context.Context, e *lifecycle.Engine, typ, ref string) (any, error) {
	if typ != typeImage {
		sb, err := e.Inspect(ctx, ref)
		if err == nil {
			// Without its image (an index that no longer lists it),
			// the sandbox is shown without what only the image says.
			im, ierr := e.Image(sb.ImageID)
			if ierr != nil {
				im = nil
			}
			return containerInspect(docker.Container(sb, im)), nil
		}
		if !errors.Is(err, lifecycle.ErrNotFound) {
			return nil, err
		}
		if typ == typeContainer {
			return nil, fmt.Errorf("no such container %s", ref)
		}
	}
	im, err := e.Image(ref)
	if errors.Is(err, lifecycle.ErrNotFound) {
		if typ == typeImage {
			return nil, fmt.Errorf("%s: image not known", ref)
		}
		return nil, fmt.Errorf("no such object: %q", ref)
	}
	if err != nil {
		return nil, err
	}
	return imageInspect(docker.Image(im)), nil
}

// containerInspectData is docker's container inspect with podman's
// additions that scripts use: the name without docker's "/", and the
// image's name as given.
type containerInspectData struct {
	container.InspectResponse
	ImageName string `json:"ImageName"`
}

func containerInspect(r container.InspectResponse) containerInspectData {
	d := containerInspectData{InspectResponse: r}
	if len(r.Name) > 0 && r.Name[0] == '/' {
		d.Name = r.Name[1:]
	}
	if r.Config != nil {
		d.ImageName = r.Config.Image
	}
	return d
}

// imageInspectData is docker's image inspect.
type imageInspectData struct {
	image.InspectResponse
}

func imageInspect(r image.InspectResponse) imageInspectData { return imageInspectData{r} }

// Id is docker's name of the ID in templates ({{.Id}}, the JSON key),
// beside the Go field's {{.ID}}, which podman answers.
func (d containerInspectData) Id() string { return d.ID } //nolint:revive // docker's spelling, on purpose

// Id: see containerInspectData.Id.
func (d imageInspectData) Id() string { return d.ID } //nolint:revive // docker's spelling, on purpose
