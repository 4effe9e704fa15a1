package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"usandbox/storage/index"
)

// The operations that take images out of the store (push, save), bring
// archives in (load) and check registry credentials, run by
// usandbox-image as the CLI's push, save, load and login are.

// RegistryAuth are credentials given with a request (the Docker API's
// X-Registry-Auth). They reach usandbox-image on its stdin, never on a
// command line, which other users can read.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

func (a *RegistryAuth) stdin() io.Reader {
	if a == nil {
		a = &RegistryAuth{}
	}
	b, _ := json.Marshal(a) // strings only: cannot fail
	return bytes.NewReader(b)
}

// PushOptions tune ImagePush.
type PushOptions struct {
	// Insecure allows plain HTTP and unverified certificates.
	Insecure bool
	// Auth, if set, are used instead of the auth file's credentials.
	Auth *RegistryAuth
}

// PushReport is what ImagePush wrote: the manifest's digest and size, and
// the tag pushed to.
type PushReport struct {
	Digest string
	Size   int64
	Tag    string
}

// ImagePush pushes the image ref to dest ("" for the registry ref's name
// says; else a registry name or a transport's reference, as the CLI's
// push takes), passing each step to progress (if not nil). Unknown
// image: ErrNotFound; credentials refused or missing: ErrUnauthorized.
func (e *Engine) ImagePush(ctx context.Context, ref, dest string, o PushOptions, progress func(PullEvent)) (*PushReport, error) {
	if _, err := e.Image(ref); err != nil {
		return nil, err
	}
	args := []string{"push", "--json", "--auth-stdin"}
	if o.Insecure {
		args = append(args, "--tls-verify=false")
	}
	args = append(args, "--", ref)
	if dest != "" {
		args = append(args, dest)
	}
	var rep *PushReport
	err := e.runImageToolIn(ctx, args, o.Auth.stdin(), func(m index.ToolMessage) {
		if m.Kind == index.ToolImage {
			rep = &PushReport{Digest: m.Digest, Size: m.Size, Tag: m.Tag}
		} else if progress != nil {
			progress(m)
		}
	})
	if err != nil {
		return nil, err
	}
	if rep == nil {
		return nil, fmt.Errorf("pushing %s: usandbox-image did not say what it pushed", ref)
	}
	return rep, nil
}

// ImageLoad stores the images of the archive r (a docker-archive or an
// oci-archive) and returns what it loaded: names, or "sha256:ID" for an
// image without one. Not an archive: ErrInvalid.
func (e *Engine) ImageLoad(ctx context.Context, r io.Reader, progress func(PullEvent)) ([]string, error) {
	var names []string
	err := e.runImageToolIn(ctx, []string{"load", "--json"}, r, func(m index.ToolMessage) {
		if m.Kind == index.ToolLoaded {
			names = m.Names
		} else if progress != nil {
			progress(m)
		}
	})
	return names, err
}

// ImageSave writes the images refs to w as one docker-archive (docker's
// save). Every image is looked up first (ErrNotFound) so that a missing
// one fails before anything is written.
func (e *Engine) ImageSave(ctx context.Context, refs []string, w io.Writer) error {
	if len(refs) == 0 {
		return as(ErrInvalid, errors.New("no image to save"))
	}
	for _, r := range refs {
		if _, err := e.Image(r); err != nil {
			return err
		}
	}
	if e.ImageTool == "" {
		return ErrNoImageTool
	}
	args := append([]string{"--root", e.paths.Root, "--runroot", e.paths.RunRoot, "save", "--quiet", "--format", "docker-archive", "--"}, refs...)
	cmd := exec.CommandContext(ctx, e.ImageTool, args...)
	cmd.Args[0] = "usandbox"
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "Error: "))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("usandbox-image save: %s", msg)
	}
	return nil
}

// RegistryLogin checks the credentials with the registry, saving nothing
// (the Docker API's /auth: the client keeps them). Refused:
// ErrUnauthorized.
func (e *Engine) RegistryLogin(ctx context.Context, registry string, auth RegistryAuth, insecure bool) error {
	args := []string{"login", "--json", "--check", "--auth-stdin"}
	if insecure {
		args = append(args, "--tls-verify=false")
	}
	return e.runImageToolIn(ctx, append(args, "--", registry), auth.stdin(), nil)
}
