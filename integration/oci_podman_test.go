//go:build integration

package integration

// Rootless podman 4.3 (conmon 2.1.6) driving the OCI runtime under test
// (ociRuntime) with `podman --runtime RUNTIME`. Every expected value is
// what docker and podman give, and what podman gives with runc 1.1.5 on
// this host.
//
// Podman looks the runtime's basename up in containers.conf's
// runtime_supports_json (crun, runc, ...): runc gets --log-format=json,
// a runtime named usandbox-runc gets the text log format; podman maps
// either kind of error to 126/127 from its text. Both were checked with
// runc (once through a symlink named usandbox-runc): same results.
//
// What podman sends the runtime on this host: conmon `create --bundle B
// --pid-file P [--console-socket S] ID` and `exec --pid-file P --process F
// --detach [--tty --console-socket S] ID`; podman `start`, `state`,
// `kill ID 15` / `kill ID 9`, `delete --force`. Its spec has an empty
// linux.resources ({}) and no linux.cgroupsPath (rootless, cgroup v1).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ociPodmanImage is the busybox test image in an ociPodman's store.
const ociPodmanImage = "localhost/busybox:latest"

// ociPodman is a rootless podman that shares nothing with the test user's
// own: its store (--root, --runroot), its libpod state (--tmpdir), its
// configuration and every XDG directory and HOME are in a temporary
// directory. containers.conf: cgroupfs and a file events log, as there is
// no systemd here. Rootless podman ignores graphroot/runroot in
// CONTAINERS_STORAGE_CONF (it takes rootless_storage_path or
// $XDG_DATA_HOME), hence the flags.
type ociPodman struct {
	t       *testing.T
	dir     string
	runtime string
	global  []string
	env     []string
}

func newOCIPodman(t *testing.T) *ociPodman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (hack/deps.sh installs it: apt-get install podman)")
	}
	if _, err := exec.LookPath("conmon"); err != nil {
		t.Skip("conmon is not installed (it comes with Debian's podman)")
	}
	rt := ociRuntime(t)
	before := liveProcesses()
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	home := filepath.Join(dir, "home")
	conf := write("containers.conf", "[containers]\nlog_driver = \"k8s-file\"\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n")
	storage := write("storage.conf", "[storage]\ndriver = \"overlay\"\n")
	registries := write("registries.conf", "unqualified-search-registries = []\n")
	// containers/image reads $HOME/.config/containers/policy.json before
	// /etc/containers/policy.json.
	write("home/.config/containers/policy.json", `{"default":[{"type":"insecureAcceptAnything"}]}`+"\n")
	for _, d := range []string{"run", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := &ociPodman{
		t: t, dir: dir, runtime: rt,
		global: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "libpod"), "--runtime", rt},
		env: append(os.Environ(),
			"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
			"XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "XDG_STATE_HOME="+filepath.Join(home, ".local", "state"),
			"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"), "TMPDIR="+filepath.Join(dir, "tmp"),
			"CONTAINERS_CONF="+conf, "CONTAINERS_STORAGE_CONF="+storage, "CONTAINERS_REGISTRIES_CONF="+registries),
	}
	t.Cleanup(func() {
		p.run("rm", "-a", "-f", "-t", "0")
		// The pause process holds podman's user namespace; system
		// reset ends it (and removes --tmpdir, where its pid is).
		pause, _ := os.ReadFile(filepath.Join(dir, "libpod", "pause.pid"))
		if r := p.run("system", "reset", "-f"); r.code != 0 {
			t.Errorf("podman system reset: exit %d: %s", r.code, r.stderr)
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(pause))); err == nil && cmdline(pid) != "" {
			t.Errorf("podman system reset left its pause process %d running", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		assertNoNewProcesses(t, before)
		assertNoMountsUnder(t, dir)
	})
	id := strings.TrimSpace(p.ok("pull", "-q", ociRef("busybox", "latest")))
	p.ok("tag", id, ociPodmanImage)
	if got := strings.TrimSpace(p.ok("info", "--format", "{{.Host.OCIRuntime.Path}} {{.Host.CgroupManager}} {{.Host.EventLogger}} {{.Store.GraphRoot}}")); got != rt+" cgroupfs file "+filepath.Join(dir, "root") {
		t.Fatalf("podman info: %q: not the isolated podman asked for", got)
	}
	return p
}

func (p *ociPodman) cmd(args ...string) *exec.Cmd {
	c := exec.Command("podman", append(append([]string{}, p.global...), args...)...)
	c.Env = p.env
	c.Dir = p.dir
	return c
}

func (p *ociPodman) run(args ...string) result {
	p.t.Helper()
	r, err := capture(p.cmd(args...))
	if err != nil {
		p.t.Fatalf("running podman %v: %v", args, err)
	}
	return r
}

func (p *ociPodman) ok(args ...string) string {
	p.t.Helper()
	r := p.run(args...)
	if r.code != 0 {
		p.t.Fatalf("podman %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// state is the container's status and exit code (podman inspect).
func (p *ociPodman) state(name string) string {
	p.t.Helper()
	return strings.TrimSpace(p.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name))
}

// TestOCIPodmanRun: podman run --rm, its output and its exit status.
func TestOCIPodmanRun(t *testing.T) {
	p := newOCIPodman(t)
	run := func(a ...string) []string {
		return append([]string{"run", "--rm", "--network", "none", ociPodmanImage}, a...)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string // part of stderr, for the failures podman maps
	}{
		{"true", run("true"), 0, "", ""},
		{"echo", run("echo", "hello", "world"), 0, "hello world\n", ""},
		{"stdout and stderr", run("sh", "-c", "echo out; echo err >&2"), 0, "out\n", "err\n"},
		{"exit 3", run("sh", "-c", "exit 3"), 3, "", ""},
		// A file that is no program: docker and podman exit 126.
		{"not executable", run("/etc/passwd"), 126, "", "permission denied"},
		{"missing command", run("no-such-command"), 127, "", "executable file not found in $PATH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := p.run(tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("podman %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
					strings.Join(tt.args, " "), r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	// podman kill sends SIGKILL: exit status 128+9, from wait and inspect.
	t.Run("kill 137", func(t *testing.T) {
		p.ok("run", "-d", "--name", "killed", "--network", "none", ociPodmanImage, "sleep", "1000")
		if st := p.state("killed"); st != "running 0" {
			t.Fatalf("after run -d: %s", st)
		}
		p.ok("kill", "killed")
		if out := p.ok("wait", "killed"); out != "137\n" {
			t.Fatalf("podman wait: %q, want 137", out)
		}
		if st := p.state("killed"); st != "exited 137" {
			t.Fatalf("after kill: %s, want exited 137", st)
		}
		p.ok("rm", "killed")
	})
	if ids := p.ok("ps", "-a", "-q"); ids != "" {
		t.Fatalf("run --rm left containers: %q", ids)
	}
}

// TestOCIPodmanDetached: run -d, exec into it, stop and rm.
func TestOCIPodmanDetached(t *testing.T) {
	p := newOCIPodman(t)
	// pid 1 with a TERM handler: podman stop's SIGTERM ends it at once.
	p.ok("run", "-d", "--name", "up", "--network", "none", ociPodmanImage, "sh", "-c", `trap "exit 0" TERM; sleep 1000 & wait`)
	if st := p.state("up"); st != "running 0" {
		t.Fatalf("after run -d: %s", st)
	}
	if got := strings.TrimSpace(p.ok("inspect", "--format", "{{.OCIRuntime}}", "up")); got != p.runtime && got != filepath.Base(p.runtime) {
		t.Fatalf("container's OCI runtime %q, want %s", got, p.runtime)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{"echo", []string{"exec", "up", "echo", "in", "it"}, "", 0, "in it\n", ""},
		{"exit 7", []string{"exec", "up", "sh", "-c", "exit 7"}, "", 7, "", ""},
		{"stdin", []string{"exec", "-i", "up", "cat"}, "piped\n", 0, "piped\n", ""},
		{"env and workdir", []string{"exec", "-e", "X=2", "-w", "/tmp", "up", "sh", "-c", "echo $X; pwd"}, "", 0, "2\n/tmp\n", ""},
		{"sees pid 1", []string{"exec", "up", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}, "", 0, `sh -c trap "exit 0" TERM; sleep 1000 & wait `, ""},
		{"not executable", []string{"exec", "up", "/etc/passwd"}, "", 126, "", "permission denied"},
		{"missing command", []string{"exec", "up", "no-such-command"}, "", 127, "", "executable file not found in $PATH"},
	} {
		t.Run("exec "+tt.name, func(t *testing.T) {
			c := p.cmd(tt.args...)
			c.Stdin = strings.NewReader(tt.stdin)
			r, err := capture(c)
			if err != nil {
				t.Fatal(err)
			}
			if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("podman %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
					strings.Join(tt.args, " "), r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	t.Run("stop", func(t *testing.T) {
		start := time.Now()
		p.ok("stop", "up")
		// Podman's default timeout is 10 s, then SIGKILL (137).
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stop took %v: SIGTERM did not reach pid 1", d)
		}
		if st := p.state("up"); st != "exited 0" {
			t.Fatalf("after stop: %s, want exited 0", st)
		}
		p.ok("rm", "up")
	})
	// A pid 1 without a handler ignores SIGTERM: stop -t 1 ends it with
	// SIGKILL after a second (podman: kill ID 15, then kill ID 9).
	t.Run("stop falls back to SIGKILL", func(t *testing.T) {
		p.ok("run", "-d", "--name", "deaf", "--network", "none", ociPodmanImage, "sleep", "1000")
		p.ok("stop", "-t", "1", "deaf")
		if st := p.state("deaf"); st != "exited 137" {
			t.Fatalf("after stop -t 1: %s, want exited 137", st)
		}
		p.ok("rm", "deaf")
	})
	if ids := p.ok("ps", "-a", "-q"); ids != "" {
		t.Fatalf("containers left after rm: %q", ids)
	}
}

// TestOCIPodmanTerminal: run -it and exec -it, the terminal coming from
// the runtime through conmon's console socket.
func TestOCIPodmanTerminal(t *testing.T) {
	p := newOCIPodman(t)
	// terminal starts podman on a new pty, types line and waits for
	// each of want and then for podman's exit status.
	terminal := func(t *testing.T, args []string, line string, code int, want ...string) {
		t.Helper()
		c := p.cmd(args...)
		ptmx, err := pty.StartWithSize(c, &pty.Winsize{Rows: 24, Cols: 80})
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		expect := ptyExpect(t, ptmx)
		fmt.Fprintf(ptmx, "%s\r", line)
		for _, w := range want {
			expect(w)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if got := exitCode(err); got != code {
				t.Fatalf("podman %s: exit %d, want %d", strings.Join(args, " "), got, code)
			}
		case <-time.After(15 * time.Second):
			c.Process.Kill()
			t.Fatalf("podman %s did not exit after the shell did", strings.Join(args, " "))
		}
	}
	t.Run("run -it", func(t *testing.T) {
		terminal(t, []string{"run", "-it", "--rm", "--network", "none", ociPodmanImage, "sh"},
			"echo result=$((6*7)); tty; test -t 0 && echo stdin-tty; exit 3", 3,
			`^result=42$`, `^/dev/pts/\d+$`, `^stdin-tty$`)
	})
	t.Run("exec -it", func(t *testing.T) {
		p.ok("run", "-d", "--name", "up", "--network", "none", ociPodmanImage, "sleep", "1000")
		terminal(t, []string{"exec", "-it", "up", "sh"},
			"echo result=$((6*7)); tty; exit 4", 4, `^result=42$`, `^/dev/pts/\d+$`)
		p.ok("rm", "-f", "-t", "0", "up")
	})
	if ids := p.ok("ps", "-a", "-q"); ids != "" {
		t.Fatalf("containers left: %q", ids)
	}
}
