// Package build builds images from a Dockerfile (Containerfile) with
// usandbox's own engine: openshift/imagebuilder evaluates the
// instructions; each RUN runs in a usandbox sandbox (the same user
// namespace, seccomp profile and user-mode network as usandbox run) whose
// upper layer becomes a layer of the store; COPY and ADD write into the
// mounted root of the step's image, every path resolved inside it (and
// inside the context), fd-relative, never through a symlink out.
//
// Every step that makes a layer makes an intermediate image, found again
// by a cache key chained from the base image's ID through every
// instruction, its resolved environment and arguments, and the content
// digests of what it copies: a rebuild of an unchanged context runs
// nothing, and a change rebuilds from the step it touches on.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	docker "github.com/fsouza/go-dockerclient"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/openshift/imagebuilder"
	"github.com/openshift/imagebuilder/dockerfile/command"
	"github.com/openshift/imagebuilder/dockerfile/parser"

	"usandbox/sandbox/spec"
	"usandbox/storage/index"
)

// Options describe one build.
type Options struct {
	// Context is the build context directory; Dockerfile the file (""
	// is Containerfile or Dockerfile in Context).
	Context, Dockerfile string
	// Tags name the result.
	Tags []string
	// Args are --build-arg values; Labels --label KEY=VALUE.
	Args   map[string]string
	Labels map[string]string
	// Target stops at this stage.
	Target string
	// NoCache runs every step again; Pull pulls every FROM image.
	NoCache, Pull bool
	// Network is RUN's network ("" the default).
	Network string
	// Secrets are --secret id=ID,src=FILE.
	Secrets map[string]string
	// Contexts are --build-context NAME=DIR: COPY --from=NAME copies
	// from DIR.
	Contexts map[string]string
	// Quiet prints only the result's ID.
	Quiet bool
	// Out receives the steps and RUN's output.
	Out io.Writer
}

// RunSpec is one RUN for Tools.Run.
type RunSpec struct {
	Image   string
	Args    []string
	Env     []string
	User    string
	Workdir string
	Network string
	// Mounts are usandbox run -v/--tmpfs arguments (secrets, binds).
	Mounts []string
	Tmpfs  []string
	Out    io.Writer
}

// RunResult is a finished RUN's sandbox.
type RunResult struct {
	Status int
	// Upper and Lowers are its layers, for Tools.Commit.
	Upper  string
	Lowers []string
	// Remove removes the sandbox.
	Remove func()
}

// Tools are what a build needs of the engine and the store.
type Tools interface {
	// Base returns the ID and config of an image, pulling it when the
	// store lacks it or pull is set.
	Base(ctx context.Context, ref string, pull bool) (string, *dockerspec.DockerOCIImage, error)
	// Commit stores an image and returns its ID.
	Commit(ctx context.Context, req *index.LayerRequest) (string, error)
	// Run runs a RUN; the sandbox stays until Remove.
	Run(ctx context.Context, r RunSpec) (*RunResult, error)
	// Tag names an image.
	Tag(ctx context.Context, id string, names []string) error
	// Cached and Remember are the layer cache.
	Cached(key string) (string, bool)
	Remember(key, id string) error
}

// ErrRun is wrapped by a RUN that failed.
var ErrRun = errors.New("RUN failed")

// RunError is a RUN's exit status.
type RunError struct {
	Step   string
	Status int
}

func (e *RunError) Error() string {
	return fmt.Sprintf("building at STEP \"%s\": while running runtime: exit status %d", e.Step, e.Status)
}
func (e *RunError) Unwrap() error { return ErrRun }

// DockerfilePath finds the Dockerfile as podman does.
func DockerfilePath(o Options) (string, error) {
	if o.Dockerfile != "" {
		p := o.Dockerfile
		if !filepath.IsAbs(p) {
			if _, err := os.Stat(p); err != nil {
				p = filepath.Join(o.Context, p)
			}
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("the Dockerfile %s: %w", o.Dockerfile, errors.Unwrap(err))
		}
		return p, nil
	}
	for _, n := range []string{"Containerfile", "Dockerfile"} {
		p := filepath.Join(o.Context, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Containerfile or Dockerfile in %s: give one with -f", o.Context)
}

// Build builds o and returns the result's image ID.
func Build(ctx context.Context, t Tools, o Options) (string, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if fi, err := os.Stat(o.Context); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("context must be a directory: %q", o.Context)
	}
	df, err := DockerfilePath(o)
	if err != nil {
		return "", err
	}
	f, err := os.Open(df)
	if err != nil {
		return "", err
	}
	node, err := imagebuilder.ParseDockerfile(f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", df, err)
	}
	if err := checkInstructions(node); err != nil {
		return "", fmt.Errorf("%s: %w", df, err)
	}
	excludes, err := imagebuilder.ParseDockerignore(o.Context)
	if err != nil {
		return "", fmt.Errorf("reading .dockerignore: %w", err)
	}
	stages, err := imagebuilder.NewStages(node, imagebuilder.NewBuilder(o.Args))
	if err != nil {
		return "", fmt.Errorf("%s: %w", df, err)
	}
	if o.Target != "" {
		var ok bool
		if stages, ok = stages.ThroughTarget(o.Target); !ok {
			return "", fmt.Errorf("%s: no stage named %q (--target)", df, o.Target)
		}
	}
	total := 0
	for _, st := range stages {
		total += len(st.Node.Children)
	}
	b := &builder{t: t, o: o, excludes: excludes, results: map[string]string{}, total: total}
	var id string
	for i, st := range stages {
		last := i == len(stages)-1
		if id, err = b.stage(ctx, st, last); err != nil {
			return "", err
		}
		b.results[st.Name] = id
		b.results[fmt.Sprint(st.Position)] = id
	}
	return id, nil
}

// checkInstructions refuses an unknown instruction before anything runs.
func checkInstructions(node *parser.Node) error {
	for _, c := range node.Children {
		if _, ok := command.Commands[strings.ToLower(c.Value)]; !ok {
			return fmt.Errorf("line %d: unknown instruction: %s", c.StartLine, strings.ToUpper(c.Value))
		}
	}
	return nil
}

type builder struct {
	t        Tools
	o        Options
	excludes []string
	results  map[string]string
	step     int
	total    int
}

func (b *builder) printf(format string, a ...any) {
	if !b.o.Quiet {
		fmt.Fprintf(b.o.Out, format, a...)
	}
}

// stageState is where a stage is.
type stageState struct {
	image   string // the current image ("" for scratch)
	key     string // the cache key chain
	config  dockerspec.DockerOCIImage
	history []imgspecv1.History
	// layered: the current image has every step so far.
	layered bool
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (b *builder) stage(ctx context.Context, st imagebuilder.Stage, last bool) (string, error) {
	ib := st.Builder
	from, err := ib.From(st.Node)
	if err != nil {
		return "", err
	}
	b.step++
	b.printf("STEP %d/%d: FROM %s\n", b.step, b.total, from)
	s := &stageState{layered: true}
	switch {
	case strings.EqualFold(from, "scratch"):
		s.config.OS, s.config.Architecture = "linux", runtime.GOARCH
		s.key = hash("scratch")
	default:
		ref := from
		if id, ok := b.results[from]; ok {
			ref = id
		}
		id, cfg, err := b.t.Base(ctx, ref, b.o.Pull && ref == from)
		if err != nil {
			return "", err
		}
		s.image, s.config, s.history = id, *cfg, cfg.History
		s.key = hash("from", id)
	}
	dc := toDocker(s.config.Config)
	if err := ib.FromImage(&docker.Image{Config: &dc}, st.Node); err != nil {
		return "", err
	}
	ib.Excludes = b.excludes
	// FromImage reset RunConfig; RUN checks that the stage has a base.
	ib.RunConfig.Image = from
	for _, child := range st.Node.Children {
		b.step++
		step := ib.Step()
		if err := step.Resolve(child); err != nil {
			return "", err
		}
		b.printf("STEP %d/%d: %s\n", b.step, b.total, child.Original)
		x := &executor{b: b, s: s, ib: ib, step: step, ctx: ctx}
		if err := ib.Run(step, x, false); err != nil {
			return "", err
		}
		if !x.layer {
			// A config step: in the key chain and the history.
			s.key = hash(s.key, step.Command, strings.Join(step.Args, "\x00"), strings.Join(step.Flags, "\x00"), strings.Join(ib.Arguments(), "\x00"))
			s.history = append(s.history, imgspecv1.History{Created: now(), CreatedBy: "/bin/sh -c #(nop) " + child.Original, EmptyLayer: true})
			s.layered = false
		}
	}
	// The stage's image: its config, history and (last stage) labels
	// and names.
	cfg := b.configOf(s, ib)
	if last {
		for k, v := range b.o.Labels {
			if cfg.Config.Labels == nil {
				cfg.Config.Labels = map[string]string{}
			}
			cfg.Config.Labels[k] = v
		}
	}
	blob, err := json.Marshal(cfg.Config)
	if err != nil {
		return "", err
	}
	key := hash(s.key, "final", string(blob))
	names := []string(nil)
	if last {
		names = b.o.Tags
		b.printf("COMMIT %s\n", strings.Join(b.o.Tags, " "))
	}
	if id, ok := b.cached(key); ok {
		if len(names) > 0 {
			if err := b.t.Tag(ctx, id, names); err != nil {
				return "", err
			}
		}
		b.printf("--> %s\n", short(id))
		return id, nil
	}
	id, err := b.commit(ctx, s, cfg, nil, !last, names)
	if err != nil {
		return "", err
	}
	if err := b.t.Remember(key, id); err != nil {
		return "", err
	}
	b.printf("--> %s\n", short(id))
	return id, nil
}

func (b *builder) cached(key string) (string, bool) {
	if b.o.NoCache {
		return "", false
	}
	return b.t.Cached(key)
}

func short(id string) string {
	if len(id) > 11 {
		return id[:11]
	}
	return id
}

func now() *time.Time {
	t := time.Now().UTC()
	return &t
}

// configOf is the image config the builder holds now.
func (b *builder) configOf(s *stageState, ib *imagebuilder.Builder) dockerspec.DockerOCIImage {
	cfg := s.config
	rc := *ib.Config()
	rc.Env = spec.MergeEnv(ib.Env, ib.RunConfig.Env)
	cfg.Config = fromDocker(rc)
	cfg.Created = now()
	if ib.Author != "" {
		cfg.Author = ib.Author
	}
	cfg.History = append([]imgspecv1.History(nil), s.history...)
	cfg.RootFS = imgspecv1.RootFS{}
	return cfg
}

// commit stores the stage's image with one more layer (req's upper or
// copies; none if req is nil).
func (b *builder) commit(ctx context.Context, s *stageState, cfg dockerspec.DockerOCIImage, req *index.LayerRequest, intermediate bool, names []string) (string, error) {
	if req == nil {
		req = &index.LayerRequest{}
	}
	blob, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	req.Parent, req.Config, req.Intermediate, req.Names = s.image, blob, intermediate, names
	return b.t.Commit(ctx, req)
}

// executor runs one step's COPY and RUN (imagebuilder calls it).
type executor struct {
	b     *builder
	s     *stageState
	ib    *imagebuilder.Builder
	step  *imagebuilder.Step
	ctx   context.Context
	layer bool
}

func (x *executor) Preserve(string) error            { return nil }
func (x *executor) EnsureContainerPath(string) error { return nil }
func (x *executor) EnsureContainerPathAs(string, string, *os.FileMode) error {
	// WORKDIR: made by the next RUN (usandbox run makes a missing
	// working directory) or COPY (which makes its destination).
	return nil
}

func (x *executor) UnrecognizedInstruction(step *imagebuilder.Step) error {
	return fmt.Errorf("unknown instruction: %s", strings.ToUpper(step.Command))
}

// layerStep makes the step's layer (unless the cache has it): key is its
// cache key, make makes the request.
func (x *executor) layerStep(key, createdBy string, make func() (*index.LayerRequest, func(), error)) error {
	x.layer = true
	s := x.s
	s.key = key
	s.history = append(s.history, imgspecv1.History{Created: now(), CreatedBy: createdBy})
	if id, ok := x.b.cached(key); ok {
		x.b.printf("--> Using cache %s\n", id)
		s.image = id
		s.layered = true
		x.b.printf("--> %s\n", short(id))
		return nil
	}
	req, done, err := make()
	if done != nil {
		defer done()
	}
	if err != nil {
		return err
	}
	cfg := x.b.configOf(s, x.ib)
	id, err := x.b.commit(x.ctx, s, cfg, req, true, nil)
	if err != nil {
		return err
	}
	if err := x.b.t.Remember(key, id); err != nil {
		return err
	}
	s.image = id
	s.layered = true
	x.b.printf("--> %s\n", short(id))
	return nil
}

func (x *executor) Copy(excludes []string, copies ...imagebuilder.Copy) error {
	for _, c := range copies {
		if err := x.copy(excludes, c); err != nil {
			return err
		}
	}
	return nil
}

func (x *executor) copy(excludes []string, c imagebuilder.Copy) error {
	workdir := x.ib.RunConfig.WorkingDir
	if workdir == "" {
		workdir = "/"
	}
	dest := c.Dest
	if !path.IsAbs(dest) {
		trailing := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
		dest = path.Join(workdir, dest)
		if trailing {
			dest += "/"
		}
	}
	switch {
	case c.Parents:
		return fmt.Errorf("%s: --parents is not supported", x.step.Original)
	case c.Link:
		return fmt.Errorf("%s: --link is not supported", x.step.Original)
	case len(c.Files) > 0:
		return fmt.Errorf("%s: heredocs are not supported: put the content in a file of the context", x.step.Original)
	}
	op := index.CopyOp{Src: c.Src, Dest: dest, Chown: c.Chown, Chmod: c.Chmod}
	op.Excludes = append(append([]string(nil), excludes...), c.Excludes...)
	var digestParts []string
	var cleanup func()
	switch {
	case c.From != "" && x.b.o.Contexts[c.From] != "":
		op.Context, op.Excludes = x.b.o.Contexts[c.From], c.Excludes
		d, err := Digest(op.Context, c.Src, op.Excludes)
		if err != nil {
			return fmt.Errorf("%s: %w", x.step.Original, err)
		}
		digestParts = append(digestParts, "context", c.From, d)
	case c.From != "":
		ref := c.From
		if id, ok := x.b.results[c.From]; ok {
			ref = id
		}
		id, _, err := x.b.t.Base(x.ctx, ref, false)
		if err != nil {
			return fmt.Errorf("COPY --from=%s: %w", c.From, err)
		}
		op.FromImage, op.Excludes = id, c.Excludes
		digestParts = append(digestParts, "from", id)
	case c.Download && len(c.Src) == 1 && isURL(c.Src[0]):
		var want digest.Digest
		if c.Checksum != "" {
			var err error
			if want, err = digest.Parse(c.Checksum); err != nil {
				return fmt.Errorf("%s: --checksum=%s: %w", x.step.Original, c.Checksum, err)
			}
		}
		dir, name, err := download(x.ctx, c.Src[0])
		if err != nil {
			return err
		}
		cleanup = func() { os.RemoveAll(dir) }
		if want != "" {
			if err := verify(filepath.Join(dir, name), want); err != nil {
				cleanup()
				return fmt.Errorf("%s: %w", x.step.Original, err)
			}
		}
		op.Context, op.Src, op.Excludes = dir, []string{name}, nil
		if !strings.HasSuffix(dest, "/") {
			// ADD URL FILE: the download is FILE.
			op.Dest, op.Rename = path.Dir(dest)+"/", path.Base(dest)
		}
		d, err := Digest(dir, op.Src, nil)
		if err != nil {
			cleanup()
			return err
		}
		digestParts = append(digestParts, "url", c.Src[0], d)
	case c.Checksum != "":
		// As docker: the context's files have no content fixed in advance.
		return fmt.Errorf("%s: --checksum is only for the ADD of a URL", x.step.Original)
	default:
		for _, s := range c.Src {
			if isURL(s) {
				return fmt.Errorf("%s: only ADD of a single URL is supported", x.step.Original)
			}
		}
		op.Context = x.b.o.Context
		op.Extract = c.Download
		d, err := Digest(op.Context, c.Src, op.Excludes)
		if err != nil {
			return fmt.Errorf("%s: %w", x.step.Original, err)
		}
		digestParts = append(digestParts, "context", d)
	}
	if cleanup != nil {
		defer cleanup()
	}
	// The excludes are in the key for COPY --from, whose digest is the
	// image's, not that of what the excludes leave.
	opJSON, _ := json.Marshal(index.CopyOp{Src: op.Src, Dest: op.Dest, Chown: op.Chown, Chmod: op.Chmod, Extract: op.Extract, Rename: op.Rename, Excludes: op.Excludes})
	key := hash(append([]string{x.s.key, "copy", string(opJSON)}, digestParts...)...)
	return x.layerStep(key, "/bin/sh -c #(nop) "+x.step.Original, func() (*index.LayerRequest, func(), error) {
		return &index.LayerRequest{Copies: []index.CopyOp{op}}, nil, nil
	})
}

// verify checks that the file p has the digest want (ADD --checksum).
func verify(p string, want digest.Digest) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := want.Algorithm().FromReader(f)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("the download does not match --checksum: it is %s, not %s", got, want)
	}
	return nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// download fetches an ADD's URL into a new temporary directory.
func download(ctx context.Context, raw string) (string, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("ADD %s: %w", raw, err)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	dir, err := os.MkdirTemp("", "usandbox-add-")
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("ADD %s: %w", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("ADD %s: %s", raw, resp.Status)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("ADD %s: %w", raw, err)
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		os.Chtimes(filepath.Join(dir, name), lm, lm)
	}
	return dir, name, nil
}

func (x *executor) Run(run imagebuilder.Run, config docker.Config) error {
	args := run.Args
	if run.Shell {
		sh := config.Shell
		if len(sh) == 0 {
			sh = []string{"/bin/sh", "-c"}
		}
		args = append(append([]string(nil), sh...), strings.Join(run.Args, " "))
	}
	if len(run.Files) > 0 {
		return fmt.Errorf("%s: heredocs are not supported: put the script in a file of the context and COPY it", x.step.Original)
	}
	if x.s.image == "" {
		return fmt.Errorf("%s: a RUN needs an image with a shell or the command (FROM scratch has none)", x.step.Original)
	}
	network, err := runNetwork(x.b.o.Network, run.Network)
	if err != nil {
		return fmt.Errorf("%s: %w", x.step.Original, err)
	}
	spec := RunSpec{Args: args, Env: config.Env, User: config.User, Workdir: config.WorkingDir, Network: network, Out: x.b.o.Out}
	var secretParts []string
	for _, m := range run.Mounts {
		if err := x.mount(m, &spec, &secretParts); err != nil {
			return fmt.Errorf("%s: --mount=%s: %w", x.step.Original, m, err)
		}
	}
	if x.b.o.Quiet {
		spec.Out = io.Discard
	}
	envJSON, _ := json.Marshal(spec.Env)
	key := hash(append([]string{x.s.key, "run", strings.Join(args, "\x00"), string(envJSON), spec.User, spec.Workdir, network, strings.Join(spec.Mounts, "\x00"), strings.Join(spec.Tmpfs, "\x00")}, secretParts...)...)
	createdBy := strings.Join(args, " ")
	if run.Shell {
		createdBy = "/bin/sh -c " + strings.Join(run.Args, " ")
	}
	return x.layerStep(key, createdBy, func() (*index.LayerRequest, func(), error) {
		spec.Image = x.s.image
		res, err := x.b.t.Run(x.ctx, spec)
		if err != nil {
			return nil, nil, err
		}
		if res.Status != 0 {
			return nil, res.Remove, &RunError{Step: x.step.Original, Status: res.Status}
		}
		return &index.LayerRequest{Upper: res.Upper, Lowers: res.Lowers}, res.Remove, nil
	})
}

// runNetwork is a RUN's network: the build's (the user's --network), or
// what the Dockerfile's RUN --network= asks for, which may only take
// network away. The Dockerfile is not the user: it gets none or the
// build's own (default), and host only if the build already has it, as
// docker wants the network.host entitlement for it; never another
// sandbox's namespace or a driver option such as slirp4netns's host
// loopback.
func runNetwork(build, asked string) (string, error) {
	switch {
	case asked == "" || asked == "default":
		return build, nil
	case asked == "none":
		return "none", nil
	case asked == "host" && build == "host":
		return "host", nil
	case asked == "host":
		return "", fmt.Errorf("RUN --network=host: the host's network is only for a build given --network host")
	}
	return "", fmt.Errorf("RUN --network=%s: a Dockerfile may ask for none, default or (with build --network host) host", asked)
}

// mount turns RUN --mount=type=secret|bind|tmpfs into usandbox run's
// volumes.
func (x *executor) mount(m string, spec *RunSpec, keyParts *[]string) error {
	kv := map[string]string{}
	for _, f := range strings.Split(m, ",") {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	// What each type takes; any other option would be ignored, so it is
	// refused.
	allowed := map[string][]string{
		"secret": {"id", "required"},
		"tmpfs":  {},
		"bind":   {"source", "src", "from", "readonly", "ro"},
		"":       {"source", "src", "from", "readonly", "ro"},
	}
	for k := range kv {
		switch k {
		case "type", "target", "dst", "destination":
			continue
		}
		if !slices.Contains(allowed[kv["type"]], k) {
			return fmt.Errorf("the option %q is not supported for type=%s", k, kv["type"])
		}
	}
	if kv["source"] == "" {
		kv["source"] = kv["src"]
	}
	target := kv["target"]
	if target == "" {
		target = kv["dst"]
	}
	if target == "" {
		target = kv["destination"]
	}
	switch kv["type"] {
	case "secret":
		id := kv["id"]
		src, ok := x.b.o.Secrets[id]
		if !ok {
			if kv["required"] == "true" {
				return fmt.Errorf("no secret %q: give it with --secret id=%s,src=FILE", id, id)
			}
			return nil
		}
		if target == "" {
			target = "/run/secrets/" + id
		}
		spec.Mounts = append(spec.Mounts, src+":"+target+":ro")
		// A secret's content is not in the key: changing it does not
		// rebuild, as in docker.
		*keyParts = append(*keyParts, "secret", id, target)
	case "tmpfs":
		if target == "" {
			return errors.New("a tmpfs mount needs target=")
		}
		spec.Tmpfs = append(spec.Tmpfs, target)
	case "bind", "":
		if target == "" {
			return errors.New("a bind mount needs target=")
		}
		if kv["from"] != "" {
			return errors.New("bind mounts from a stage or image are not supported: COPY --from the files instead")
		}
		root, err := os.OpenRoot(x.b.o.Context)
		if err != nil {
			return err
		}
		defer root.Close()
		rel := path.Clean("/" + kv["source"])[1:]
		if rel == "" {
			rel = "."
		}
		if _, err := root.Stat(rel); err != nil {
			return fmt.Errorf("source %s: %w", kv["source"], err)
		}
		d, err := Digest(x.b.o.Context, []string{rel}, x.b.excludes)
		if err != nil {
			return err
		}
		// Resolved in the context: a symlink out is refused above.
		spec.Mounts = append(spec.Mounts, filepath.Join(x.b.o.Context, rel)+":"+target+":ro")
		*keyParts = append(*keyParts, "bind", rel, target, d)
	default:
		return fmt.Errorf("type=%s is not supported (secret, bind and tmpfs are)", kv["type"])
	}
	return nil
}
