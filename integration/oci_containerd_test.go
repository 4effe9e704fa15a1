//go:build integration

package integration

// Rootless containerd 1.6 (Debian's, with its runc v2 shim) under
// Debian's rootlesskit, driving the OCI runtime under test (ociRuntime)
// through `ctr run --runc-binary RUNTIME`. The test starts its own
// containerd with everything in a temporary directory, and stops it.
//
// linux.resources: by default ctr puts linux.cgroupsPath "/default/ID"
// (NAMESPACE/ID) and linux.resources {devices: [deny all, then allow
// null, zero, full, tty, random, urandom, console, ptmx, pts/*], cpu:
// {shares: 1024}} in the spec (--cpu-shares defaults to 1024). Rootless on
// this host's cgroup v1 without delegation runc then fails: "mkdir
// /sys/fs/cgroup/cpuset/default: permission denied" for the path, and
// "cannot set cpu limit: container could not join or create cgroup" for
// the shares. `--cgroup ""` leaves cgroupsPath out and `--cpu-shares 0`
// leaves cpu out (ctrSpecFlags). No ctr flag removes the device rules:
// linux.resources is then {devices: [...]} alone, which runc accepts here
// (it skips the devices cgroup in a user namespace), so the runtime under
// test must accept it too (--privileged only replaces the rules by
// allow-all; --config takes a whole spec and no image). TestOCIContainerd's
// "spec" case asserts these spec contents and logs what the runtime says
// to ctr's default spec.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ctrImage is the busybox test image in a rootlessContainerd.
const ctrImage = "docker.io/library/busybox:latest"

// rootlessContainerd is one containerd running under rootlesskit, as the
// test user, with its root, state, socket and rootlesskit's state in dir.
type rootlessContainerd struct {
	t        *testing.T
	dir      string
	sock     string
	runtime  string
	childPid int // rootlesskit's child: its namespaces are containerd's
	rk       *exec.Cmd
	done     chan error
}

// startContainerd starts rootless containerd like Debian's
// containerd-rootless.sh does (rootlesskit --net=slirp4netns
// --copy-up=/etc --copy-up=/run --disable-host-loopback), with the CRI
// plugin and the snapshotters that need root or a special file system
// disabled, and returns once ctr gets an answer from it. The test's
// cleanup stops it and checks that nothing is left.
func startContainerd(t *testing.T) *rootlessContainerd {
	t.Helper()
	for _, p := range []struct{ bin, why string }{
		{"containerd", "containerd is not installed (hack/deps.sh installs it: apt-get install containerd)"},
		{"containerd-shim-runc-v2", "containerd's runc v2 shim is not installed (apt-get install containerd)"},
		{"ctr", "ctr is not installed (apt-get install containerd)"},
		{"rootlesskit", "rootlesskit is not installed (hack/deps.sh installs it: apt-get install rootlesskit)"},
		{"slirp4netns", "slirp4netns is not installed (hack/deps.sh installs it: apt-get install slirp4netns)"},
		{"nsenter", "nsenter is not installed (apt-get install util-linux)"},
	} {
		if _, err := exec.LookPath(p.bin); err != nil {
			t.Skip(p.why)
		}
	}
	rt := ociRuntime(t)
	before := liveProcesses()
	dir, err := os.MkdirTemp("", "usandbox-it-containerd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &rootlessContainerd{t: t, dir: dir, sock: filepath.Join(dir, "containerd.sock"), runtime: rt, done: make(chan error, 1)}
	q := strconv.Quote
	config := fmt.Sprintf(`version = 2
root = %s
state = %s
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
]
[grpc]
  address = %s
[plugins."io.containerd.internal.v1.opt"]
  path = %s
`, q(filepath.Join(dir, "root")), q(filepath.Join(dir, "state")), q(c.sock), q(filepath.Join(dir, "opt")))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.rk = exec.Command("rootlesskit", "--net=slirp4netns", "--copy-up=/etc", "--copy-up=/run", "--disable-host-loopback",
		"--state-dir="+filepath.Join(dir, "rootlesskit"), "containerd", "--config", filepath.Join(dir, "config.toml"))
	c.rk.Dir, c.rk.Stdout, c.rk.Stderr = dir, logf, logf
	c.rk.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := c.rk.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	go func() { c.done <- c.rk.Wait() }()
	t.Cleanup(func() { c.stop(before) })

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("rootlesskit containerd exited (%v) before it served %s:\n%s", err, c.sock, c.log())
		default:
		}
		if c.childPid == 0 {
			if b, err := os.ReadFile(filepath.Join(dir, "rootlesskit", "child_pid")); err == nil {
				c.childPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
		}
		if c.childPid != 0 {
			if _, err := os.Stat(c.sock); err == nil {
				if r := c.ctr("version"); r.code == 0 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not serve %s within 30s:\n%s", c.sock, c.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func (c *rootlessContainerd) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	return string(b)
}

// stop ends containerd with SIGTERM (rootlesskit passes it on and exits
// with containerd's status), removes its files, which belong to
// subordinate IDs, from inside a user namespace that maps them, and
// checks that no process, mount or file of it is left.
func (c *rootlessContainerd) stop(before map[int]string) {
	t := c.t
	if err := c.rk.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signalling rootlesskit: %v", err)
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("rootlesskit containerd after SIGTERM: %v\n%s", err, c.log())
		}
	case <-time.After(30 * time.Second):
		c.rk.Process.Kill()
		<-c.done
		t.Errorf("rootlesskit containerd did not end within 30s of SIGTERM:\n%s", c.log())
	}
	rm := exec.Command("rootlesskit", "--state-dir="+filepath.Join(c.dir, "rootlesskit-rm"), "rm", "-rf",
		filepath.Join(c.dir, "root"), filepath.Join(c.dir, "state"), filepath.Join(c.dir, "opt"))
	if out, err := rm.CombinedOutput(); err != nil {
		t.Errorf("removing containerd's files: %v %s", err, out)
	}
	assertNoNewProcesses(t, before)
	assertNoMountsUnder(t, c.dir)
	if err := os.RemoveAll(c.dir); err != nil {
		t.Errorf("removing containerd's directory: %v", err)
	}
}

// ctrCmd is ctr talking to this containerd, in its user and mount
// namespaces: ctr makes the stdio FIFOs under /run/containerd/fifo,
// where the shim, inside rootlesskit's copied-up /run, opens them.
func (c *rootlessContainerd) ctrCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"-U", "--preserve-credentials", "-m", "-n", "-t", strconv.Itoa(c.childPid),
		"ctr", "--address", c.sock}, args...)...)
	cmd.Dir = c.dir
	return cmd
}

func (c *rootlessContainerd) ctr(args ...string) result {
	c.t.Helper()
	r, err := capture(c.ctrCmd(args...))
	if err != nil {
		c.t.Fatalf("running ctr %v: %v", args, err)
	}
	return r
}

func (c *rootlessContainerd) ok(args ...string) string {
	c.t.Helper()
	r := c.ctr(args...)
	if r.code != 0 {
		c.t.Fatalf("ctr %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// ctrSpecFlags are the flags `ctr run` and `ctr containers create` need
// here: the native snapshotter, and no cgroup path nor CPU shares in
// linux.resources (see the top of this file).
var ctrSpecFlags = []string{"--snapshotter", "native", "--cgroup", "", "--cpu-shares", "0"}

// ctrRunFlags are ctrSpecFlags and the runtime under test, for ctr run.
func (c *rootlessContainerd) ctrRunFlags() []string {
	return append([]string{"--runc-binary", c.runtime}, ctrSpecFlags...)
}

func (c *rootlessContainerd) runArgs(mode string, id string, cmd ...string) []string {
	return append(append(append([]string{"run", mode}, c.ctrRunFlags()...), ctrImage, id), cmd...)
}

// importBusybox imports the busybox test image: an OCI archive made from
// its OCI layout.
func (c *rootlessContainerd) importBusybox() {
	c.t.Helper()
	archive := filepath.Join(c.dir, "busybox.tar")
	tarDir(c.t, filepath.Join(env.cache, "images", "busybox"), archive)
	c.ok("images", "import", "--snapshotter", "native", "--base-name", "docker.io/library/busybox", archive)
	if out := c.ok("images", "ls", "-q"); out != ctrImage+"\n" {
		c.t.Fatalf("images after import: %q, want %s", out, ctrImage)
	}
}

// tarDir writes the directories and regular files under src to a tar
// archive at dst, with names relative to src.
func tarDir(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: neither a directory nor a regular file", p)
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.IsDir() {
			return nil
		}
		r, err := os.Open(p)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(tw, r)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("archiving %s: %v", src, err)
	}
}

// taskStatus is the status `ctr tasks ls` shows for id ("" for none).
func (c *rootlessContainerd) taskStatus(id string) string {
	c.t.Helper()
	for _, l := range strings.Split(c.ok("tasks", "ls"), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// waitStopped waits up to 10 s for id's task to stop.
func (c *rootlessContainerd) waitStopped(id string) {
	c.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := c.taskStatus(id)
		if st == "STOPPED" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("task %s still %s 10s after kill", id, st)
		}
	}
}

// remove deletes container id and its task, killing the task if it runs.
func (c *rootlessContainerd) remove(id string) {
	c.t.Helper()
	switch c.taskStatus(id) {
	case "":
	case "STOPPED":
		c.ok("tasks", "delete", id)
	default:
		c.ok("tasks", "kill", "--signal", "SIGKILL", id)
		c.waitStopped(id)
		c.ok("tasks", "delete", id)
	}
	c.ok("containers", "delete", id)
}

// assertNothingLeft fails for containers, tasks or container snapshots left.
func (c *rootlessContainerd) assertNothingLeft() {
	c.t.Helper()
	if out := c.ok("tasks", "ls", "-q"); out != "" {
		c.t.Errorf("tasks left: %q", out)
	}
	if out := c.ok("containers", "ls", "-q"); out != "" {
		c.t.Errorf("containers left: %q", out)
	}
	// The image's layers are committed snapshots; a container's is active.
	for _, l := range strings.Split(c.ok("snapshots", "--snapshotter", "native", "ls"), "\n")[1:] {
		if f := strings.Fields(l); len(f) == 3 && f[2] != "Committed" {
			c.t.Errorf("snapshot left: %s", l)
		}
	}
}

// spec is the OCI spec containerd holds for container id.
func (c *rootlessContainerd) spec(id string) map[string]any {
	c.t.Helper()
	var info struct {
		Spec map[string]any `json:"Spec"`
	}
	if err := json.Unmarshal([]byte(c.ok("containers", "info", id)), &info); err != nil {
		c.t.Fatalf("ctr containers info %s: %v", id, err)
	}
	return info.Spec
}

func TestOCIContainerd(t *testing.T) {
	c := startContainerd(t)
	c.importBusybox()

	// What ctr puts in the spec by default and with ctrSpecFlags (the top
	// of this file says why it matters). ctr containers create has no
	// --cgroup: run -d, which keeps the container when the runtime fails.
	t.Run("spec", func(t *testing.T) {
		c := *c
		c.t = t
		r := c.ctr("run", "-d", "--snapshotter", "native", "--runc-binary", c.runtime, ctrImage, "spec-default", "true")
		t.Logf("ctr run -d with ctr's default spec: exit %d, stderr %q", r.code, r.stderr)
		c.ok(c.runArgs("-d", "spec-ours", "true")...)
		linux := func(id string) map[string]any { l, _ := c.spec(id)["linux"].(map[string]any); return l }
		keys := func(m any) []string {
			mm, _ := m.(map[string]any)
			var ks []string
			for k := range mm {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			return ks
		}
		def, ours := linux("spec-default"), linux("spec-ours")
		if got := def["cgroupsPath"]; got != "/default/spec-default" {
			t.Errorf("default linux.cgroupsPath %v, want /default/spec-default", got)
		}
		if got := keys(def["resources"]); !reflect.DeepEqual(got, []string{"cpu", "devices"}) {
			t.Errorf("default linux.resources has %v, want cpu and devices", got)
		}
		if got, _ := def["resources"].(map[string]any)["cpu"].(map[string]any); got["shares"] != 1024.0 {
			t.Errorf("default linux.resources.cpu %v, want shares 1024", got)
		}
		if got, ok := ours["cgroupsPath"]; ok {
			t.Errorf("linux.cgroupsPath %v with --cgroup \"\"", got)
		}
		if got := keys(ours["resources"]); !reflect.DeepEqual(got, []string{"devices"}) {
			t.Errorf("linux.resources has %v with %q, want devices alone", got, ctrSpecFlags)
		}
		devs, _ := ours["resources"].(map[string]any)["devices"].([]any)
		if len(devs) == 0 || !reflect.DeepEqual(devs[0], map[string]any{"allow": false, "access": "rwm"}) {
			t.Errorf("linux.resources.devices %v, want deny-all first", devs)
		}
		// --runc-binary reaches the shim as the runc options' BinaryName.
		var info struct {
			Runtime struct {
				Name    string
				Options struct {
					Value []byte `json:"value"`
				}
			}
		}
		if err := json.Unmarshal([]byte(c.ok("containers", "info", "spec-ours")), &info); err != nil {
			t.Fatal(err)
		}
		if info.Runtime.Name != "io.containerd.runc.v2" || !bytes.Contains(info.Runtime.Options.Value, []byte(c.runtime)) {
			t.Errorf("container runtime %s with options %q, want io.containerd.runc.v2 with BinaryName %s", info.Runtime.Name, info.Runtime.Options.Value, c.runtime)
		}
		c.remove("spec-default")
		c.remove("spec-ours")
		c.assertNothingLeft()
	})

	t.Run("run", func(t *testing.T) {
		c := *c
		c.t = t
		for i, tt := range []struct {
			name           string
			cmd            []string
			code           int
			stdout, stderr string
		}{
			{"echo", []string{"echo", "hello", "world"}, 0, "hello world\n", ""},
			{"stdout and stderr", []string{"sh", "-c", "echo out; echo err >&2"}, 0, "out\n", "err\n"},
			{"exit 3", []string{"sh", "-c", "exit 3"}, 3, "", ""},
			// ctr's own failure (1), with the runtime's message,
			// which docker maps to 126 and 127.
			{"not executable", []string{"/etc/passwd"}, 1, "", "permission denied"},
			{"missing command", []string{"no-such-command"}, 1, "", "executable file not found in $PATH"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				args := c.runArgs("--rm", fmt.Sprintf("run-%d", i), tt.cmd...)
				r := c.ctr(args...)
				if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
					t.Fatalf("ctr %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
						strings.Join(args, " "), r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
				}
			})
		}
		c.assertNothingLeft()
	})

	t.Run("detached", func(t *testing.T) {
		c := *c
		c.t = t
		// pid 1 with a TERM handler: ctr tasks kill's SIGTERM ends it.
		c.ok(c.runArgs("-d", "up", "sh", "-c", `trap "exit 0" TERM; sleep 1000 & wait`)...)
		if st := c.taskStatus("up"); st != "RUNNING" {
			t.Fatalf("after run -d: task %q", st)
		}
		for i, tt := range []struct {
			name           string
			cmd            []string
			stdin          string
			code           int
			stdout, stderr string
		}{
			{"echo", []string{"echo", "in", "it"}, "", 0, "in it\n", ""},
			{"exit 5", []string{"sh", "-c", "exit 5"}, "", 5, "", ""},
			{"stdin", []string{"cat"}, "piped\n", 0, "piped\n", ""},
			{"sees pid 1", []string{"sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}, "", 0, `sh -c trap "exit 0" TERM; sleep 1000 & wait `, ""},
			{"missing command", []string{"no-such-command"}, "", 1, "", "executable file not found in $PATH"},
		} {
			t.Run("exec "+tt.name, func(t *testing.T) {
				args := append([]string{"tasks", "exec", "--exec-id", fmt.Sprintf("exec-%d", i), "up"}, tt.cmd...)
				cmd := c.ctrCmd(args...)
				cmd.Stdin = strings.NewReader(tt.stdin)
				r, err := capture(cmd)
				if err != nil {
					t.Fatal(err)
				}
				if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
					t.Fatalf("ctr %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
						strings.Join(args, " "), r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
				}
			})
		}
		c.ok("tasks", "kill", "up")
		c.waitStopped("up")
		// ctr tasks delete warns of a non-zero exit status only.
		if r := c.ctr("tasks", "delete", "up"); r.code != 0 || strings.Contains(r.stderr, "exit code") {
			t.Fatalf("tasks delete up (exit 0 expected): exit %d, stderr %q", r.code, r.stderr)
		}
		// A pid 1 without a handler ignores SIGTERM; SIGKILL: 137.
		c.ok(c.runArgs("-d", "deaf", "sleep", "1000")...)
		c.ok("tasks", "kill", "--signal", "SIGKILL", "deaf")
		c.waitStopped("deaf")
		if r := c.ctr("tasks", "delete", "deaf"); r.code != 0 || !strings.Contains(r.stderr, "exit code 137") {
			t.Fatalf("tasks delete deaf (exit 137 expected): exit %d, stderr %q", r.code, r.stderr)
		}
		c.ok("containers", "delete", "up", "deaf")
		c.assertNothingLeft()
	})

	// run -t: the shim takes the terminal from the runtime through
	// create's --console-socket.
	t.Run("terminal", func(t *testing.T) {
		c := *c
		c.t = t
		cmd := c.ctrCmd(append(append([]string{"run", "--rm", "-t"}, c.ctrRunFlags()...), ctrImage, "tty", "sh")...)
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		expect := ptyExpect(t, ptmx)
		fmt.Fprintf(ptmx, "echo result=$((6*7)); tty; test -t 0 && echo stdin-tty; exit 3\r")
		expect(`^result=42$`)
		expect(`^/dev/pts/\d+$`)
		expect(`^stdin-tty$`)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if code := exitCode(err); code != 3 {
				t.Fatalf("ctr run -t: exit %d, want 3", code)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Fatal("ctr run -t did not exit after the shell did")
		}
		c.assertNothingLeft()
	})
}
