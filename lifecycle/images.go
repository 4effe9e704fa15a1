package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"

	"usandbox/sandbox"
	"usandbox/storage/index"
)

// The image operations below run usandbox-image (Engine.ImageTool) with
// --json, as the CLI hands pull, rmi and tag to it: only that binary
// links containers/image and containers/storage.

// PullEvent is one step of a pull (a layer started, read, stored or
// skipped; a note), as usandbox-image reports it.
type PullEvent = index.ToolMessage

// PullOptions tune ImagePull.
type PullOptions struct {
	// Insecure allows plain HTTP and unverified certificates
	// (--tls-verify=false).
	Insecure bool
	// Auth, if set, are used instead of the auth file's credentials.
	Auth *RegistryAuth
}

// ErrNoImageTool is returned when Engine.ImageTool is not set.
var ErrNoImageTool = errors.New("the image operations need usandbox-image: Engine.ImageTool is not set")

// ImagePull pulls ref into the store, passing each step to progress (if
// not nil), and returns the image. An image the source does not have is
// ErrNotFound.
func (e *Engine) ImagePull(ctx context.Context, ref string, o PullOptions, progress func(PullEvent)) (*Image, error) {
	args := []string{"pull", "--json", "--auth-stdin"}
	if o.Insecure {
		args = append(args, "--tls-verify=false")
	}
	var id string
	err := e.runImageToolIn(ctx, append(args, "--", ref), o.Auth.stdin(), func(m index.ToolMessage) {
		if m.Kind == index.ToolImage {
			id = m.ID
		} else if progress != nil {
			progress(m)
		}
	})
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("pulling %s: usandbox-image did not say which image it stored", ref)
	}
	return e.Image(id)
}

// ImageRemoveReport is what ImageRemove did: names untagged, and the
// image deleted ("sha256:ID", "" if it stayed).
type ImageRemoveReport struct {
	Untagged []string
	Deleted  string
}

// ImageRemove removes what ref names, as docker's rmi does: one of an
// image's several names goes alone; the last name (or the ID) takes the
// image and its layers, unless a sandbox was made from it (ErrConflict).
// With force, an image that only stopped sandboxes use loses its names
// and stays for them (docker's rmi -f); a running sandbox's image is
// refused even then. Unknown: ErrNotFound.
func (e *Engine) ImageRemove(ctx context.Context, ref string, force bool) (*ImageRemoveReport, error) {
	im, err := e.Image(ref)
	if err != nil {
		return nil, err
	}
	var rep *ImageRemoveReport
	err = e.runImageTool(ctx, []string{"rmi", "--json", "--", ref}, func(m index.ToolMessage) {
		if m.Kind == index.ToolRemoved {
			rep = &ImageRemoveReport{Untagged: m.Untagged, Deleted: m.Deleted}
		}
	})
	if err == nil {
		if rep == nil {
			return nil, fmt.Errorf("removing %s: usandbox-image did not say what it removed", ref)
		}
		return rep, nil
	}
	if !force || Kind(err) != ErrConflict {
		return nil, err
	}
	all, lerr := sandbox.List(e.paths)
	if lerr != nil {
		return nil, lerr
	}
	for _, sb := range all {
		if sb.ImageID == im.ID && sb.State.Running {
			return nil, as(ErrConflict, fmt.Errorf("unable to delete %s (cannot be forced): the image is used by running sandbox %s", ref, sb.Name))
		}
	}
	if len(im.Names) == 0 {
		return nil, err // nothing to untag: the sandboxes keep it
	}
	if err := e.runImageTool(ctx, []string{"untag", "--json", "--", im.ID}, nil); err != nil {
		return nil, err
	}
	return &ImageRemoveReport{Untagged: im.Names}, nil
}

// ImageTag gives the image ref the name name (podman's tag: a name
// without a registry goes under localhost/, one without a tag gets
// :latest). Unknown image: ErrNotFound; a bad name: ErrInvalid.
func (e *Engine) ImageTag(ctx context.Context, ref, name string) error {
	if _, err := e.Image(ref); err != nil {
		return err
	}
	return e.runImageTool(ctx, []string{"tag", "--json", "--", ref, name}, nil)
}

// ImagePrune removes the images no sandbox uses that have no name (all:
// every image no sandbox uses) and, if labels are given (KEY or
// KEY=VALUE), that have every one of those labels. It returns their IDs
// and the bytes freed.
func (e *Engine) ImagePrune(ctx context.Context, all bool, labels []string) ([]string, int64, error) {
	args := []string{"image-prune", "--json"}
	if all {
		args = append(args, "--all")
	}
	for _, l := range labels {
		if l == "" {
			return nil, 0, as(ErrInvalid, errors.New("an empty label filter"))
		}
		args = append(args, "--filter", "label="+l)
	}
	var ids []string
	var freed int64
	err := e.runImageTool(ctx, args, func(m index.ToolMessage) {
		if m.Kind == index.ToolPruned {
			ids, freed = m.IDs, m.Freed
		}
	})
	return ids, freed, err
}

// runImageTool runs usandbox-image on the Engine's store with args (one
// of them --json) and passes each message but an error to fn; an error
// message becomes the error returned, of its kind.
func (e *Engine) runImageTool(ctx context.Context, args []string, fn func(index.ToolMessage)) error {
	return e.runImageToolIn(ctx, args, nil, fn)
}

// runImageToolIn is runImageTool with stdin (nil: none).
func (e *Engine) runImageToolIn(ctx context.Context, args []string, stdin io.Reader, fn func(index.ToolMessage)) error {
	if e.ImageTool == "" {
		return ErrNoImageTool
	}
	err := index.RunTool(ctx, e.ImageTool, e.paths, args, stdin, fn)
	var te *index.ToolFailure
	if errors.As(err, &te) {
		err := errors.New(te.Message)
		switch te.ErrorKind {
		case index.ToolNotFound:
			return as(ErrNotFound, err)
		case index.ToolConflict:
			return as(ErrConflict, err)
		case index.ToolInvalid:
			return as(ErrInvalid, err)
		case index.ToolUnauthorized:
			return as(ErrUnauthorized, err)
		}
		return err
	}
	return err
}
