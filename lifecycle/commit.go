package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"usandbox/storage/index"
)

// CommitOptions tune Commit.
type CommitOptions struct {
	// Name is the new image's name ("" leaves it without one).
	Name string
	// Changes are Dockerfile instructions applied to the image's config
	// (--change): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, …
	Changes []string
	// Message and Author go into the image's history (-m, -a).
	Message, Author string
	// Pause freezes a running sandbox while its files are read (-p).
	Pause bool
}

// Commit makes an image of a sandbox (running or not): its image's layers,
// what the sandbox changed as one more layer, and its settings (command,
// environment, user, working directory, labels, ports) as the config.
func (e *Engine) Commit(ctx context.Context, ref string, o CommitOptions) (*Image, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := sb.Damaged(); err != nil {
		return nil, classify(err)
	}
	r := sb.Spec.Rootfs
	if r.Upper == "" {
		return nil, as(ErrInvalid, fmt.Errorf("sandbox %s has no layer of its own to commit (a read-only root with no upper directory)", ref))
	}
	if o.Pause && sb.State.Running && !sb.State.Paused {
		if err := e.Pause(ctx, sb.ID); err != nil {
			return nil, fmt.Errorf("pausing %s for the commit: %w", ref, err)
		}
		defer func() {
			if err := e.Unpause(context.WithoutCancel(ctx), sb.ID); err != nil {
				e.warnIf(err)
			}
		}()
	}
	lowers := make([]string, len(r.Lowers))
	for i, l := range r.Lowers {
		lowers[i] = filepath.Join(r.Home, l)
	}
	var imcfg index.Config
	if im, err := e.Image(sb.ImageID); err == nil {
		imcfg = im.Config
	}
	cfg, err := json.Marshal(sandboxConfig(sb, imcfg))
	if err != nil {
		return nil, err
	}
	req := index.LayerRequest{
		Parent: sb.ImageID, Upper: r.Upper, Lowers: lowers, Config: cfg, Changes: o.Changes,
		Commit: &index.CommitInfo{Author: o.Author, Comment: o.Message, CreatedBy: createdBy(sb.Spec.Process.Args)},
	}
	if o.Name != "" {
		req.Names = []string{o.Name}
	}
	return e.CommitLayer(ctx, &req)
}

// CommitLayer has usandbox-image store the image req describes (commit
// and build).
func (e *Engine) CommitLayer(ctx context.Context, req *index.LayerRequest) (*Image, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var id string
	err = e.runImageToolIn(ctx, []string{"commit-layer", "--json"}, bytes.NewReader(b), func(m index.ToolMessage) {
		if m.Kind == index.ToolImage {
			id = m.ID
		}
	})
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errors.New("usandbox-image did not say which image it stored")
	}
	return e.Image(id)
}

// createdBy is a history entry's command, as docker writes it.
func createdBy(args []string) string { return strings.Join(args, " ") }

// sandboxConfig is what a commit keeps of a sandbox's settings, as docker
// and podman keep them: the command (the image's entrypoint stays if the
// command still starts with it), environment, user, working directory,
// labels, ports and stop signal.
func sandboxConfig(sb *Sandbox, image index.Config) dockerspec.DockerOCIImageConfig {
	var c dockerspec.DockerOCIImageConfig
	p := sb.Spec.Process
	entrypoint := image.Entrypoint
	for _, kv := range p.Env {
		// What the runtime adds is not the image's.
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOSTNAME" || name == "TERM" && !hasEnv(image.Env, "TERM") {
			continue
		}
		c.Env = append(c.Env, kv)
	}
	c.User = p.User
	c.WorkingDir = p.Cwd
	c.Labels = sb.Labels
	c.StopSignal = sb.StopSignal
	if len(sb.ExposedPorts) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, port := range sb.ExposedPorts {
			c.ExposedPorts[port] = struct{}{}
		}
	}
	c.Cmd = p.Args
	if len(entrypoint) > 0 && len(p.Args) >= len(entrypoint) && equal(p.Args[:len(entrypoint)], entrypoint) {
		c.Entrypoint = entrypoint
		c.Cmd = p.Args[len(entrypoint):]
	}
	return c
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if n, _, _ := strings.Cut(kv, "="); n == name {
			return true
		}
	}
	return false
}

// ImageConfig returns an image's ID and whole config (history,
// health check, ONBUILD and SHELL included), as build's FROM needs it.
func (e *Engine) ImageConfig(ctx context.Context, ref string) (string, *dockerspec.DockerOCIImage, error) {
	var id string
	var cfg dockerspec.DockerOCIImage
	var cerr error
	err := e.runImageTool(ctx, []string{"image-config", "--json", "--", ref}, func(m index.ToolMessage) {
		if m.Kind == index.ToolImage {
			id = m.ID
			cerr = json.Unmarshal(m.Config, &cfg)
		}
	})
	if err == nil {
		err = cerr
	}
	if err == nil && id == "" {
		err = errors.New("usandbox-image did not return the image's config")
	}
	if err != nil {
		return "", nil, err
	}
	return id, &cfg, nil
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Name is the new image's name ("" for none).
	Name string
	// Changes are Dockerfile instructions for its config (-c).
	Changes []string
	// Message is the history entry's comment (-m).
	Message string
}

// Import makes an image of one layer from a tar archive of a root
// filesystem (export's output), compressed or not.
func (e *Engine) Import(ctx context.Context, tarPath string, o ImportOptions) (*Image, error) {
	req := index.LayerRequest{
		Tar: tarPath, Changes: o.Changes, Config: json.RawMessage(`{}`),
		Commit: &index.CommitInfo{Comment: o.Message, CreatedBy: "/bin/sh -c #(nop) ADD file:" + filepath.Base(tarPath) + " in / "},
	}
	if o.Name != "" {
		req.Names = []string{o.Name}
	}
	return e.CommitLayer(ctx, &req)
}
