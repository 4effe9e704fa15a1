//go:build integration

// Package integration drives the usandbox binary as an unprivileged user
// against the offline test images (hack/images.sh) and a real registry
// (hack/registry.sh). `make test` builds it and runs it as the test user;
// running it as root is refused, because a pass as root proves nothing
// about a rootless tool.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// env is what the harness passes in.
var env struct {
	bin      string // the usandbox binary
	cache    string // hack/images.sh output
	hack     string // the hack/ directory
	mkimage  string // hack/mkimage, built
	runc     string // bin/usandbox-runc, staged ("" when it was not built)
	registry string // host:port of the local registry
	regStore string // its storage directory (to corrupt blobs)
	// The second registry, which wants a login, and its one account.
	regAuth, regUser, regPassword string
}

func TestMain(m *testing.M) {
	if os.Getuid() == 0 {
		fmt.Fprintln(os.Stderr, "integration tests must run as an unprivileged user with a subuid range (make test does this via hack/integration.sh)")
		os.Exit(2)
	}
	env.bin = os.Getenv("USANDBOX_BIN")
	env.cache = getenv("USANDBOX_TEST_CACHE", "/var/cache/usandbox-test")
	env.hack = os.Getenv("USANDBOX_HACK")
	env.mkimage = getenv("USANDBOX_MKIMAGE", filepath.Join(env.cache, "bin", "mkimage"))
	env.runc = os.Getenv("USANDBOX_RUNC")
	if env.bin == "" || env.hack == "" {
		fmt.Fprintln(os.Stderr, "USANDBOX_BIN and USANDBOX_HACK must be set (see hack/integration.sh)")
		os.Exit(2)
	}
	if os.Getenv("USANDBOX_TEST_MINIMAL") != "" {
		// hack/vmtest: only the busybox image, no registry.
		os.Exit(m.Run())
	}
	if _, err := os.Stat(filepath.Join(env.cache, "images", "debian", "index.json")); err != nil {
		fmt.Fprintln(os.Stderr, "test images missing: run sudo bash hack/images.sh first:", err)
		os.Exit(2)
	}
	state, err := os.MkdirTemp("", "usandbox-it-registry-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	regEnv := append(os.Environ(), "USANDBOX_TEST_REGISTRY_STATE="+filepath.Join(state, "state.env"), "USANDBOX_TEST_CACHE="+env.cache)
	start := exec.Command("bash", filepath.Join(env.hack, "registry.sh"), "start")
	start.Env, start.Stderr = regEnv, os.Stderr
	if _, err := start.Output(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the registry:", err)
		os.Exit(2)
	}
	vars, err := os.ReadFile(filepath.Join(state, "state.env"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, l := range strings.Split(string(vars), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "REGISTRY":
			env.registry = v
		case "REGISTRY_STORAGE":
			env.regStore = v
		case "REGISTRY_AUTH":
			env.regAuth = v
		case "REGISTRY_AUTH_USER":
			env.regUser = v
		case "REGISTRY_AUTH_PASSWORD":
			env.regPassword = v
		}
	}
	code := m.Run()
	stop := exec.Command("bash", filepath.Join(env.hack, "registry.sh"), "stop")
	stop.Env = regEnv
	stop.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// store is one isolated usandbox store (its own --root and --runroot).
type store struct {
	t             *testing.T
	dir           string
	root, runroot string
}

func newStore(t *testing.T) *store {
	t.Helper()
	dir, err := os.MkdirTemp("", "usandbox-it-")
	if err != nil {
		t.Fatal(err)
	}
	s := &store{t: t, dir: dir, root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "run")}
	t.Cleanup(func() {
		// Layer files belong to sub-IDs: only the user namespace can
		// remove them, which is what system reset is for.
		if r := s.run("system", "reset", "--force"); r.code != 0 {
			t.Errorf("system reset: %d %s", r.code, r.stderr)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the test store: %v", err)
		}
	})
	return s
}

type result struct {
	stdout, stderr string
	code           int
}

func (s *store) cmd(args ...string) *exec.Cmd {
	c := exec.Command(env.bin, append([]string{"--root", s.root, "--runroot", s.runroot}, args...)...)
	c.Env = os.Environ()
	return c
}

func (s *store) run(args ...string) result {
	s.t.Helper()
	r, err := s.tryRun(args...)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	return r
}

// tryRun is run for other goroutines than the test's, which must not call
// t.Fatal: it returns the error of a usandbox that did not start.
func (s *store) tryRun(args ...string) (result, error) {
	r, err := capture(s.cmd(args...))
	if err != nil {
		return result{}, fmt.Errorf("running usandbox %v: %w", args, err)
	}
	return r, nil
}

// capture runs c and returns what it printed and its exit status (128+N
// for a signal N), or the error of a command that did not start.
func capture(c *exec.Cmd) (result, error) {
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		return result{}, err
	}
	return result{out.String(), errb.String(), code}, nil
}

// ok runs a command that must succeed and returns its stdout.
func (s *store) ok(args ...string) string {
	s.t.Helper()
	r := s.run(args...)
	if r.code != 0 {
		s.t.Fatalf("usandbox %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail with code and one "Error:" line on
// stderr containing want.
func (s *store) fails(code int, want string, args ...string) result {
	s.t.Helper()
	r := s.run(args...)
	if r.code != code {
		s.t.Fatalf("usandbox %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	assertOneErrorLine(s.t, r.stderr, want)
	return r
}

func assertOneErrorLine(t *testing.T, stderr, want string) {
	t.Helper()
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "Error:") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 {
		t.Fatalf("want exactly one Error: line on stderr, got %d:\n%s", len(errLines), stderr)
	}
	if !strings.Contains(errLines[0], want) {
		t.Fatalf("error line %q does not mention %q", errLines[0], want)
	}
}

func ociRef(name, tag string) string {
	return "oci:" + filepath.Join(env.cache, "images", name) + ":" + tag
}

func regRef(name string) string { return env.registry + "/" + name }

// storageJSON reads one of containers/storage's metadata files.
func (s *store) storageJSON(rel string, v any) {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.root, "storage", rel))
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		s.t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		s.t.Fatal(err)
	}
}

type layerRec struct {
	ID     string         `json:"id"`
	Parent string         `json:"parent"`
	Flags  map[string]any `json:"flags"`
}

type imageRec struct {
	ID    string   `json:"id"`
	Layer string   `json:"layer"`
	Names []string `json:"names"`
}

func (s *store) layers() map[string]layerRec {
	var ls []layerRec
	s.storageJSON("overlay-layers/layers.json", &ls)
	m := map[string]layerRec{}
	for _, l := range ls {
		m[l.ID] = l
	}
	return m
}

// imageLayers returns an image's layer IDs, top first.
func (s *store) imageLayers(topLayer string) []string {
	ls := s.layers()
	var out []string
	for id := topLayer; id != ""; id = ls[id].Parent {
		out = append(out, id)
	}
	return out
}

// assertClean checks that the store holds exactly the layers its images
// use: no half-written layer, no orphan directory, no temporary file.
func (s *store) assertClean() {
	s.t.Helper()
	var ims []imageRec
	s.storageJSON("overlay-images/images.json", &ims)
	want := map[string]bool{}
	for _, im := range ims {
		for _, l := range s.imageLayers(im.Layer) {
			want[l] = true
		}
	}
	for id, l := range s.layers() {
		if !want[id] {
			s.t.Errorf("layer %s is stored but used by no image (flags %v)", id[:12], l.Flags)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.root, "storage", "overlay"))
	for _, e := range ents {
		if n := e.Name(); len(n) == 64 && !want[n] {
			s.t.Errorf("layer directory %s left behind", n[:12])
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(s.root, "tmp"))
	for _, e := range tmp {
		s.t.Errorf("temporary file left behind: %s", e.Name())
	}
}

type imageJSON struct {
	ID       string   `json:"Id"`
	Names    []string `json:"Names"`
	TopLayer string   `json:"TopLayer"`
	Size     int64    `json:"Size"`
}

func (s *store) images() []imageJSON {
	s.t.Helper()
	var out []imageJSON
	if err := json.Unmarshal([]byte(s.ok("images", "--format", "json")), &out); err != nil {
		s.t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// slowProxy serves the registry at a limited rate (bytes per second), so a
// test can act in the middle of a pull.
func slowProxy(t *testing.T, rate int) string {
	t.Helper()
	target, _ := url.Parse("http://" + env.registry)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		r.Body = &throttled{r: r.Body, rate: rate}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return ln.Addr().String()
}

type throttled struct {
	r    io.ReadCloser
	rate int
}

func (t *throttled) Read(p []byte) (int, error) {
	chunk := t.rate / 20
	if len(p) > chunk {
		p = p[:chunk]
	}
	n, err := t.r.Read(p)
	time.Sleep(time.Duration(n) * time.Second / time.Duration(t.rate))
	return n, err
}

func (t *throttled) Close() error { return t.r.Close() }

// startUntil starts c and returns once a line of its stderr contains want,
// with all of stderr so far and a channel that yields c's exit error.
func startUntil(t *testing.T, c *exec.Cmd, want string) (*syncBuffer, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	all := &syncBuffer{}
	c.Stderr = io.MultiWriter(pw, all)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), want) {
				ok = true
				found <- true
			}
		}
		if !ok {
			found <- false
		}
	}()
	done := make(chan error, 1)
	go func() { err := c.Wait(); pw.Close(); done <- err }()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("%v ended without printing %q:\n%s", c.Args, want, all.String())
		}
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		t.Fatalf("%v did not print %q within 60s", c.Args, want)
	}
	return all, done
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// usandboxProcesses lists the pids of ours (see ourProcesses) running the
// usandbox binary.
func usandboxProcesses() []int {
	var out []int
	self, _ := os.Readlink("/proc/self/exe")
	for _, pid := range ourProcesses() {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && strings.HasPrefix(exe, env.bin) && exe != self {
			out = append(out, pid)
		}
	}
	return out
}

func execCmd(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(name, args...)
}

// with returns the store for a subtest: failures go to t.
func (s *store) with(t *testing.T) *store {
	c := *s
	c.t = t
	return &c
}
