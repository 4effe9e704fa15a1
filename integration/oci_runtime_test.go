//go:build integration

package integration

// usandbox-runc driven directly, with runc's command line, as its callers
// (podman's conmon, containerd's shim) drive it: the lifecycle, its
// errors, hooks, and linux.resources (real limits in hack/vmtest's VM).

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rtCLI is usandbox-runc with its own --root.
type rtCLI struct {
	t    *testing.T
	bin  string
	root string
}

func newRtCLI(t *testing.T) *rtCLI {
	t.Helper()
	bin := env.runc
	if bin == "" {
		t.Fatal("bin/usandbox-runc was not staged (make build-tests builds it)")
	}
	return &rtCLI{t: t, bin: bin, root: t.TempDir()}
}

func (o *rtCLI) run(args ...string) result {
	o.t.Helper()
	return o.runCmd(exec.Command(o.bin, append([]string{"--root", o.root}, args...)...))
}

// runCmd runs c with its output in files: a container inherits create's
// stdio, as under runc, so pipes would stay open as long as it runs.
func (o *rtCLI) runCmd(c *exec.Cmd) result {
	o.t.Helper()
	dir := o.t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		o.t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "err"))
	if err != nil {
		o.t.Fatal(err)
	}
	defer errf.Close()
	c.Stdout, c.Stderr = out, errf
	err = c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		o.t.Fatal(err)
	}
	ob, _ := os.ReadFile(out.Name())
	eb, _ := os.ReadFile(errf.Name())
	return result{stdout: string(ob), stderr: string(eb), code: code}
}

// assertOneLine fails unless stderr is one line that names want.
func assertOneLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("stderr %q: want one line naming %q", stderr, want)
	}
}

func (o *rtCLI) ok(args ...string) string {
	o.t.Helper()
	r := o.run(args...)
	if r.code != 0 {
		o.t.Fatalf("usandbox-runc %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func (o *rtCLI) state(id string) specs.State {
	o.t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(o.ok("state", id)), &st); err != nil {
		o.t.Fatal(err)
	}
	return st
}

// assertEmpty fails unless --root holds no container.
func (o *rtCLI) assertEmpty() {
	o.t.Helper()
	ents, err := os.ReadDir(o.root)
	if err != nil && !os.IsNotExist(err) {
		o.t.Fatal(err)
	}
	for _, e := range ents {
		o.t.Errorf("left behind in --root: %s", e.Name())
	}
}

// ociBundle makes a bundle of busybox (a copy of the test rootfs) with
// usandbox-runc's rootless template, changed by change.
func ociBundle(t *testing.T, o *rtCLI, change func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-dR", filepath.Join(env.cache, "rootfs", "busybox"), filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("copying the rootfs: %v: %s", err, out)
	}
	o.ok("spec", "--rootless", "--bundle", dir)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Root.Readonly = false
	change(&s)
	if b, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func args(a ...string) func(*specs.Spec) { return func(s *specs.Spec) { s.Process.Args = a } }

func TestOCIRuntimeLifecycle(t *testing.T) {
	o := newRtCLI(t)
	b := ociBundle(t, o, args("sleep", "100"))
	pidFile := filepath.Join(t.TempDir(), "pid")
	o.ok("create", "--bundle", b, "--pid-file", pidFile, "c1")
	st := o.state("c1")
	pidb, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "created" || strconv.Itoa(st.Pid) != string(pidb) || st.Bundle != b {
		t.Fatalf("after create: %+v, pid file %q", st, pidb)
	}
	if r := o.run("create", "--bundle", b, "c1"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("a second create of c1: %+v", r)
	}
	if r := o.run("delete", "c1"); r.code == 0 || !strings.Contains(r.stderr, "not stopped") {
		t.Fatalf("delete of a created container without --force: %+v", r)
	}
	o.ok("start", "c1")
	if st := o.state("c1"); st.Status != "running" {
		t.Fatalf("after start: %+v", st)
	}
	if r := o.run("start", "c1"); r.code == 0 {
		t.Fatalf("a second start: %+v", r)
	}
	// exec: in the container's pid namespace, where the command is pid 1.
	if out := o.ok("exec", "c1", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 0"); out != "sleep 100 " {
		t.Fatalf("exec sees pid 1 as %q", out)
	}
	if r := o.run("exec", "c1", "sh", "-c", "exit 7"); r.code != 7 {
		t.Fatalf("exec's status: %+v", r)
	}
	if r := o.run("exec", "c1", "no-such-command"); r.code != 127 || !strings.Contains(r.stderr, "executable file not found") {
		t.Fatalf("exec of a missing command: %+v", r)
	}
	var pids []int
	if err := json.Unmarshal([]byte(o.ok("ps", "--format", "json", "c1")), &pids); err != nil || len(pids) != 1 || pids[0] != st.Pid {
		t.Fatalf("ps --format json: %v %v, want [%d]", pids, err, st.Pid)
	}
	if out := o.ok("list", "-q"); out != "c1\n" {
		t.Fatalf("list -q: %q", out)
	}
	o.ok("kill", "c1", "KILL")
	waitForUpTo(t, 10*time.Second, "c1 to stop", func() bool { return o.state("c1").Status == "stopped" })
	o.ok("delete", "c1")
	if r := o.run("state", "c1"); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("state of a deleted container: %+v", r)
	}
	o.ok("delete", "--force", "c1") // runc's callers delete --force what may be gone
	o.assertEmpty()
}

func TestOCIRuntimeRunStatus(t *testing.T) {
	o := newRtCLI(t)
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"sh", "-c", "echo out; exit 3"}, 3, ""},
		{[]string{"no-such-command"}, 1, "executable file not found in $PATH"},
		{[]string{"/etc/passwd"}, 1, "permission denied"},
	} {
		b := ociBundle(t, o, args(tt.args...))
		r := o.run("run", "--bundle", b, "r1")
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("run %v: %+v; want exit %d, stderr with %q", tt.args, r, tt.code, tt.stderr)
		}
		o.assertEmpty()
	}
}

// run's status for a process killed by a signal is 128+N, as a shell's.
func TestOCIRuntimeRunKilled(t *testing.T) {
	o := newRtCLI(t)
	b := ociBundle(t, o, args("sleep", "100"))
	c := exec.Command(o.bin, "--root", o.root, "run", "--bundle", b, "k1")
	done := make(chan result, 1)
	go func() { done <- o.runCmd(c) }()
	waitForUpTo(t, 10*time.Second, "k1 to run", func() bool {
		r := o.run("state", "k1")
		return r.code == 0 && strings.Contains(r.stdout, `"running"`)
	})
	o.ok("kill", "k1", "KILL")
	select {
	case r := <-done:
		if r.code != 137 {
			t.Fatalf("run of a process killed by SIGKILL: %+v; want exit 137", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its process was killed")
	}
	o.assertEmpty()
}

// Bad input: one clear line, nothing left (no record, no process).
func TestOCIRuntimeBadBundle(t *testing.T) {
	o := newRtCLI(t)
	before := liveProcesses()
	for _, tt := range []struct {
		name, want string
		change     func(*specs.Spec)
	}{
		{"apparmor", "process.apparmorProfile", func(s *specs.Spec) { s.Process.ApparmorProfile = "unconfined" }},
		{"mount through nothing", "mount /proc", func(s *specs.Spec) { s.Mounts[0].Type = "no-such-fs" }},
		{"bind of a missing source", "mount /data", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/no/such/dir", Options: []string{"rbind"}})
		}},
		{"cwd not a directory", "working directory", func(s *specs.Spec) { s.Process.Cwd = "/bin/sh" }},
		{"unmapped user", "not mapped", func(s *specs.Spec) { s.Process.User.UID = 4242 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := ociBundle(t, o, func(s *specs.Spec) { s.Process.Args = []string{"true"}; tt.change(s) })
			logf := filepath.Join(t.TempDir(), "log.json")
			c := exec.Command(o.bin, "--root", o.root, "--log", logf, "--log-format", "json", "create", "--bundle", b, "bad")
			r := o.runCmd(c)
			if r.code == 0 {
				o.ok("delete", "--force", "bad")
				t.Fatalf("create took it: %+v", r)
			}
			assertOneLine(t, r.stderr, tt.want)
			// containerd shows the last error line of --log.
			lb, err := os.ReadFile(logf)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(lb)), "\n")
			var last struct{ Level, Msg string }
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Level != "error" || !strings.Contains(last.Msg, tt.want) {
				t.Fatalf("the log's last line %q (%v): want a JSON error naming %q", lines[len(lines)-1], err, tt.want)
			}
			o.assertEmpty()
		})
	}
	assertNoNewProcesses(t, before)
}

// Hooks run in the runtime spec's order, each with the state on stdin:
// prestart and createRuntime by create, createContainer in the container
// before pivot_root, startContainer in it after start, poststart by
// start, poststop by delete.
func TestOCIRuntimeHooks(t *testing.T) {
	o := newRtCLI(t)
	out := filepath.Join(t.TempDir(), "hooks")
	hook := func(name string) specs.Hook {
		// The host's sh for the runtime's hooks; startContainer's path
		// is the container's.
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `read -r s; case "$s" in *'"id":"h1"'*) echo ` + name + ` >>` + out + `;; *) echo bad-state-` + name + ` >>` + out + `;; esac`}}
	}
	b := ociBundle(t, o, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: filepath.Dir(out), Type: "bind", Source: filepath.Dir(out), Options: []string{"rbind"}})
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{hook("prestart")}, //nolint:staticcheck // still run
			CreateRuntime:   []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")},
			StartContainer:  []specs.Hook{hook("startContainer")},
			Poststart:       []specs.Hook{hook("poststart")},
			Poststop:        []specs.Hook{hook("poststop")},
		}
	})
	o.ok("create", "--bundle", b, "h1")
	o.ok("start", "h1")
	waitForUpTo(t, 10*time.Second, "h1 to stop", func() bool { return o.state("h1").Status == "stopped" })
	o.ok("delete", "h1")
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\npoststop\n"; string(got) != want {
		t.Fatalf("hooks ran as\n%s\nwant\n%s", got, want)
	}
	o.assertEmpty()
}

// linux.resources: enforced on delegated cgroup v2 (hack/vmtest's VM),
// refused with one clear error elsewhere.
func TestOCIRuntimeResources(t *testing.T) {
	o := newRtCLI(t)
	limit := int64(32 << 20)
	withMemory := func(a ...string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Process.Args = a
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
		}
	}
	if !cgroupV2() {
		b := ociBundle(t, o, withMemory("true"))
		r := o.run("create", "--bundle", b, "m1")
		if r.code == 0 {
			t.Fatal("a memory limit was accepted on a host without cgroup v2")
		}
		assertOneLine(t, r.stderr, "linux.resources")
		o.assertEmpty()
		return
	}
	const grab = `a=$(head -c 104857600 /dev/zero | tr '\0' x); echo survived`
	b := ociBundle(t, o, withMemory("sh", "-c", grab))
	if r := o.run("run", "--bundle", b, "m1"); r.code != 137 || strings.Contains(r.stdout, "survived") {
		t.Fatalf("100 MB under a 32 MB limit: %+v", r)
	}
	o.assertEmpty()
	b = ociBundle(t, o, withMemory("sleep", "100"))
	o.ok("create", "--bundle", b, "m2")
	o.ok("start", "m2")
	o.ok("pause", "m2")
	if st := o.state("m2"); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	o.ok("resume", "m2")
	if st := o.state("m2"); st.Status != "running" {
		t.Fatalf("after resume: %s", st.Status)
	}
	upd := filepath.Join(t.TempDir(), "res.json")
	if err := os.WriteFile(upd, []byte(`{"pids":{"limit":5}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o.ok("update", "--resources", upd, "m2")
	if r := o.run("exec", "m2", "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait"); r.code == 0 {
		t.Fatalf("8 processes under pids.max 5: %+v", r)
	}
	o.ok("delete", "--force", "m2")
	o.assertEmpty()
}
