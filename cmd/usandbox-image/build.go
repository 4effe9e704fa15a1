package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/sys/atomicwriter"
	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"usandbox/build"
	"usandbox/internal/cliutil"
	"usandbox/network"
	"usandbox/sandbox/spec"
	"usandbox/storage"
	"usandbox/storage/index"
)

// buildCommand is podman's build. It runs as the user, outside the user
// namespace: each RUN is a usandbox sandbox (started by the usandbox
// binary, as any sandbox is), and the store's work is done by this binary
// again inside the namespace (commit-layer, image-config, pull, tag).
func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build an image from a Containerfile or Dockerfile",
		ArgsUsage: "[CONTEXT]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name the image (repeatable)"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Containerfile or Dockerfile (default: CONTEXT/Containerfile or CONTEXT/Dockerfile)"},
			&cli.StringSliceFlag{Name: "build-arg", Usage: "ARG=VALUE for an ARG (ARG alone takes the value from the environment)"},
			&cli.StringFlag{Name: "target", Usage: "build up to this stage"},
			&cli.BoolFlag{Name: "no-cache", Usage: "run every step again, ignoring the layer cache"},
			&cli.BoolFlag{Name: "pull", Usage: "pull every FROM image, even if the store has it"},
			&cli.StringSliceFlag{Name: "label", Usage: "KEY=VALUE label of the image (repeatable)"},
			&cli.StringFlag{Name: "network", Usage: "RUN's network: the default user-mode network, none, host, …"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
			&cli.StringFlag{Name: "iidfile", Usage: "write the image ID to this file"},
			&cli.StringSliceFlag{Name: "secret", Usage: "id=ID,src=FILE: a secret for RUN --mount=type=secret,id=ID"},
			&cli.StringSliceFlag{Name: "build-context", Usage: "NAME=DIR: COPY --from=NAME copies from the directory DIR"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			o, err := buildOptions(cmd)
			if err != nil {
				return err
			}
			p, err := cliutil.Paths(cmd)
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			runtime, err := runtimeBinary(self)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
			defer stop()
			t := &buildTools{tool: self, paths: p, runtime: runtime, out: o.Out}
			id, err := build.Build(ctx, t, o)
			var re *build.RunError
			if errors.As(err, &re) {
				// podman 4.3 exits with the RUN's status.
				return &cliutil.CodeError{Code: re.Status, Err: err}
			}
			if err != nil {
				return err
			}
			if f := cmd.String("iidfile"); f != "" {
				if err := os.WriteFile(f, []byte("sha256:"+id), 0o644); err != nil {
					return fmt.Errorf("writing --iidfile: %w", err)
				}
			}
			if !o.Quiet {
				for _, tag := range o.Tags {
					if n, err := tagName(tag); err == nil {
						fmt.Fprintf(o.Out, "Successfully tagged %s\n", n)
					}
				}
			}
			fmt.Println(id)
			return nil
		},
	}
}

func buildOptions(cmd *cli.Command) (build.Options, error) {
	o := build.Options{
		Context: ".", Dockerfile: cmd.String("file"), Tags: cmd.StringSlice("tag"), Target: cmd.String("target"),
		NoCache: cmd.Bool("no-cache"), Pull: cmd.Bool("pull"), Network: cmd.String("network"), Quiet: cmd.Bool("quiet"),
		Args: map[string]string{}, Labels: map[string]string{}, Secrets: map[string]string{}, Contexts: map[string]string{}, Out: os.Stderr,
	}
	if cmd.NArg() > 1 {
		return o, cliutil.UsageError(cmd, "build takes one context directory")
	}
	if cmd.NArg() == 1 {
		o.Context = cmd.Args().First()
	}
	if strings.Contains(o.Context, "://") {
		return o, cliutil.UsageError(cmd, "the context %s: only a local directory is supported", o.Context)
	}
	var err error
	if o.Context, err = filepath.Abs(o.Context); err != nil {
		return o, err
	}
	if o.Network != "" {
		// Checked before any step, as usandbox run would check it.
		if _, err := network.ParseNetwork(o.Network); err != nil {
			return o, cliutil.UsageError(cmd, "--network %s: %v", o.Network, err)
		}
	}
	for _, t := range o.Tags {
		if _, err := tagName(t); err != nil {
			return o, cliutil.UsageError(cmd, "-t %s: %v", t, err)
		}
	}
	for _, a := range cmd.StringSlice("build-arg") {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		o.Args[k] = v
	}
	for _, l := range cmd.StringSlice("label") {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return o, cliutil.UsageError(cmd, "--label %q: give KEY=VALUE", l)
		}
		o.Labels[k] = v
	}
	for _, bc := range cmd.StringSlice("build-context") {
		name, dir, ok := strings.Cut(bc, "=")
		if !ok || name == "" || dir == "" {
			return o, cliutil.UsageError(cmd, "--build-context %q: give NAME=DIR", bc)
		}
		if strings.Contains(dir, "://") {
			return o, cliutil.UsageError(cmd, "--build-context %s: only a local directory is supported", bc)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return o, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return o, cliutil.UsageError(cmd, "--build-context %s: %s is not a directory", bc, dir)
		}
		o.Contexts[name] = abs
	}
	for _, s := range cmd.StringSlice("secret") {
		var id, src string
		for _, f := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "type":
				if v != "file" {
					return o, cliutil.UsageError(cmd, "--secret %s: only type=file is supported", s)
				}
			default:
				return o, cliutil.UsageError(cmd, "--secret %s: unknown key %q: use id=ID,src=FILE", s, k)
			}
		}
		if id == "" || src == "" {
			return o, cliutil.UsageError(cmd, "--secret %s: give id=ID,src=FILE", s)
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			return o, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.Mode().IsRegular() {
			return o, cliutil.UsageError(cmd, "--secret %s: %s is not a readable file", s, src)
		}
		o.Secrets[id] = abs
	}
	if o.Quiet {
		o.Out = io.Discard
	}
	return o, nil
}

// tagName is the full name a -t name gives.
func tagName(t string) (string, error) { return storage.TagName(t) }

// runtimeBinary finds usandbox beside usandbox-image (bin/), or two
// levels up for a packaged install (libexec/usandbox/usandbox-image).
func runtimeBinary(self string) (string, error) {
	dir := filepath.Dir(self)
	for _, p := range []string{filepath.Join(dir, "usandbox"), filepath.Join(dir, "..", "..", "bin", "usandbox")} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("build runs its RUN steps with usandbox, which is not installed next to %s", self)
}

// buildTools are build.Tools over this binary's store commands (run
// again, inside the user namespace) and the usandbox binary. They use
// neither package lifecycle nor sandbox: this binary does not carry the
// sandbox runtime (nor its libseccomp).
type buildTools struct {
	tool    string
	paths   index.Paths
	runtime string
	out     io.Writer
}

// run runs one of this binary's commands with --json.
func (t *buildTools) run(ctx context.Context, args []string, stdin io.Reader, fn func(index.ToolMessage)) error {
	return index.RunTool(ctx, t.tool, t.paths, args, stdin, fn)
}

// known reports whether the store has an image of that name or ID.
func (t *buildTools) known(ref string) (bool, error) {
	ix, err := index.Read(t.paths)
	if err != nil {
		return false, err
	}
	_, err = ix.Lookup(ref)
	if errors.Is(err, index.ErrImageUnknown) {
		return false, nil
	}
	return err == nil, err
}

func (t *buildTools) Base(ctx context.Context, ref string, pull bool) (string, *dockerspec.DockerOCIImage, error) {
	known, err := t.known(ref)
	if err != nil {
		return "", nil, err
	}
	if !known || pull {
		fmt.Fprintf(t.out, "Pulling %s\n", ref)
		if err := t.run(ctx, []string{"pull", "--json", "--", ref}, nil, nil); err != nil {
			return "", nil, err
		}
	}
	var id string
	var cfg dockerspec.DockerOCIImage
	var cerr error
	err = t.run(ctx, []string{"image-config", "--json", "--", ref}, nil, func(m index.ToolMessage) {
		if m.Kind == index.ToolImage {
			id, cerr = m.ID, json.Unmarshal(m.Config, &cfg)
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

func (t *buildTools) Commit(ctx context.Context, req *index.LayerRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	var id string
	err = t.run(ctx, []string{"commit-layer", "--json"}, bytes.NewReader(b), func(m index.ToolMessage) {
		if m.Kind == index.ToolImage {
			id = m.ID
		}
	})
	if err == nil && id == "" {
		err = errors.New("usandbox-image did not say which image it stored")
	}
	return id, err
}

func (t *buildTools) Tag(ctx context.Context, id string, names []string) error {
	for _, n := range names {
		if err := t.run(ctx, []string{"tag", "--json", "--", id, n}, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

func (t *buildTools) Run(ctx context.Context, r build.RunSpec) (*build.RunResult, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	name := "usandbox-build-" + hex.EncodeToString(rnd[:])
	cidDir, err := os.MkdirTemp("", "usandbox-build-cid-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cidDir)
	cidFile := filepath.Join(cidDir, "cid")
	args := []string{"--root", t.paths.Root, "--runroot", t.paths.RunRoot, "run", "--name", name, "--cidfile", cidFile, "--pull", "never", "--entrypoint", ""}
	if r.User != "" {
		args = append(args, "--user", r.User)
	}
	if r.Workdir != "" {
		args = append(args, "--workdir", r.Workdir)
	}
	if r.Network != "" {
		args = append(args, "--network", r.Network)
	}
	for _, kv := range r.Env {
		args = append(args, "--env", kv)
	}
	for _, m := range r.Mounts {
		args = append(args, "--volume", m)
	}
	for _, m := range r.Tmpfs {
		args = append(args, "--tmpfs", m)
	}
	args = append(args, "--", r.Image)
	args = append(args, r.Args...)
	c := exec.CommandContext(ctx, t.runtime, args...)
	c.Args[0] = "usandbox"
	c.Stdout, c.Stderr = r.Out, r.Out
	c.Cancel = func() error { return c.Process.Signal(unix.SIGTERM) }
	remove := func() {
		rm := exec.Command(t.runtime, "--root", t.paths.Root, "--runroot", t.paths.RunRoot, "rm", "--force", name)
		rm.Args[0] = "usandbox"
		rm.Run() // a sandbox that never was is not an error here
	}
	err = c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		remove()
		return nil, fmt.Errorf("running the RUN step: %w", err)
	}
	if ctx.Err() != nil {
		remove()
		return nil, ctx.Err()
	}
	res := &build.RunResult{Status: c.ProcessState.ExitCode(), Remove: remove}
	if res.Status != 0 {
		return res, nil
	}
	rf, err := t.rootfs(cidFile)
	if err != nil {
		remove()
		return nil, err
	}
	res.Upper = rf.Upper
	for _, l := range rf.Lowers {
		res.Lowers = append(res.Lowers, filepath.Join(rf.Home, l))
	}
	return res, nil
}

// rootfs reads the layers of the sandbox whose ID run wrote to cidFile,
// from its record (ROOT/sandboxes/ID/config.json).
func (t *buildTools) rootfs(cidFile string) (*spec.Rootfs, error) {
	b, err := os.ReadFile(cidFile)
	if err != nil {
		return nil, fmt.Errorf("the RUN's sandbox: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, "/.") {
		return nil, fmt.Errorf("the RUN's sandbox: bad ID %q", id)
	}
	rec, err := os.ReadFile(filepath.Join(t.paths.Root, "sandboxes", id, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("the RUN's sandbox: %w", err)
	}
	var r struct {
		Spec spec.Spec `json:"Spec"`
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		return nil, fmt.Errorf("the RUN's sandbox's record: %w", err)
	}
	if r.Spec.Rootfs.Upper == "" {
		return nil, errors.New("the RUN's sandbox has no upper layer")
	}
	return &r.Spec.Rootfs, nil
}

// The layer cache is a map of cache keys to image IDs in the store's
// build-cache.json, written under build-cache.lock; an entry whose image
// is gone is a miss.
func (t *buildTools) cacheFile() string { return filepath.Join(t.paths.Root, "build-cache.json") }

func (t *buildTools) readCache() map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile(t.cacheFile()); err == nil {
		_ = json.Unmarshal(b, &m) // a damaged cache is an empty one
	}
	return m
}

func (t *buildTools) Cached(key string) (string, bool) {
	id, ok := t.readCache()[key]
	if !ok {
		return "", false
	}
	if known, err := t.known(id); err != nil || !known {
		return "", false
	}
	return id, true
}

func (t *buildTools) Remember(key, id string) error {
	lock, err := os.OpenFile(filepath.Join(t.paths.Root, "build-cache.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("the layer cache: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("the layer cache: %w", err)
	}
	m := t.readCache()
	m[key] = id
	ix, err := index.Read(t.paths)
	if err == nil {
		// Entries of removed images go.
		have := map[string]bool{}
		for _, im := range ix.Images {
			have[im.ID] = true
		}
		for k, v := range m {
			if !have[v] && v != id {
				delete(m, k)
			}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := atomicwriter.WriteFile(t.cacheFile(), b, 0o600); err != nil {
		return fmt.Errorf("the layer cache: %w", err)
	}
	return nil
}
