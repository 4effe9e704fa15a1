//go:build integration

package integration

// Escape attempts at the OCI runtime under test (ociRuntime:
// bin/usandbox-runc, or USANDBOX_OCI_RUNTIME=/usr/sbin/runc to compare
// with runc) as the unprivileged test user, the way podman and containerd
// run it rootless. Each bundle is the runtime's own `spec --rootless`
// (terminal off) over a copy of the busybox test rootfs with hack/attack
// at /attack. Black-box, as the escape tests are: the tests drive the
// runtime's command line and read what the attacker reports ("HOLE ...")
// and what changed on the host.
//
// The pod tests (a second container joins the first's user and pid
// namespaces by path, as the members of a pod with a shared pid
// namespace do) run the runtime as root of a user namespace that maps the
// test user only: that is where rootless podman and containerd (under
// rootlesskit) run their runtime, and the only place an unprivileged
// runtime may join a user namespace by path. They run under attack
// subreap, which reaps the containers' processes (orphans of the runtime)
// so that an ended pid namespace does not wait for its zombies. runc
// 1.1.5 wants uidMappings and gidMappings even for a user namespace it
// joins, usandbox-runc takes none there: podJoin gives them to a runtime
// named runc. Every race loop is bounded in count and time.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ociRT is the OCI runtime under test with a --root of its own. Its
// commands run under a spawner (attack spawner): a child subreaper that
// reaps the containers' processes once their runtime has exited, as
// conmon and containerd's shim do (the test process is a subreaper that
// does not reap, and a pid namespace whose processes are zombies nobody
// reaps never ends).
type ociRT struct {
	t    *testing.T
	bin  string
	root string
	tmp  string
	sock string
}

func newOCIRT(t *testing.T) *ociRT {
	t.Helper()
	d := t.TempDir()
	o := &ociRT{t: t, bin: ociRuntime(t), root: filepath.Join(d, "root"), tmp: d, sock: filepath.Join(d, "spawner.sock")}
	sp := exec.Command(attackBin(t), "spawner", o.sock)
	sp.Stderr = os.Stderr
	if err := sp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sp.Process.Kill()
		sp.Wait()
	})
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(o.sock); err == nil {
			return o
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the spawner did not start")
	return nil
}

// spawnOpts are how the spawner runs a command: stdio (default
// /dev/null in, files out), extra fds by number, a controlling terminal
// (its stdin).
type spawnOpts struct {
	stdin, stdout, stderr *os.File
	extra                 map[int]*os.File
	ctty                  bool
	env                   []string // added to the test's
}

// spawned is a command the spawner runs.
type spawned struct {
	t         *testing.T
	argv      []string
	conn      *net.UnixConn
	out, errf *os.File
}

// start has the spawner run argv with stdout and stderr in files unless
// opts give others: files, not pipes, because a detached container
// inherits them, and a pipe would keep the caller waiting for its end.
func (o *ociRT) start(argv []string, opts spawnOpts) *spawned {
	t := o.t
	t.Helper()
	sp := &spawned{t: t, argv: argv}
	var err error
	if opts.stdin == nil {
		if opts.stdin, err = os.Open(os.DevNull); err != nil {
			t.Fatal(err)
		}
		defer opts.stdin.Close()
	}
	if opts.stdout == nil {
		if sp.out, err = os.CreateTemp(o.tmp, "out"); err != nil {
			t.Fatal(err)
		}
		opts.stdout = sp.out
	}
	if opts.stderr == nil {
		if sp.errf, err = os.CreateTemp(o.tmp, "err"); err != nil {
			t.Fatal(err)
		}
		opts.stderr = sp.errf
	}
	req := struct {
		Argv []string `json:"argv"`
		Env  []string `json:"env"`
		FDs  []int    `json:"fds"`
		Ctty bool     `json:"ctty"`
	}{Argv: argv, Env: append(os.Environ(), opts.env...), Ctty: opts.ctty}
	fds := []int{int(opts.stdin.Fd()), int(opts.stdout.Fd()), int(opts.stderr.Fd())}
	for n, f := range opts.extra {
		req.FDs = append(req.FDs, n)
		fds = append(fds, int(f.Fd()))
	}
	b, _ := json.Marshal(req)
	if sp.conn, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: o.sock, Net: "unix"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.conn.WriteMsgUnix(b, unix.UnixRights(fds...), nil); err != nil {
		t.Fatal(err)
	}
	return sp
}

// wait waits (at most 2 minutes: a runtime that hangs fails its test,
// not the suite) and returns the exit status (128+N for signal N).
func (sp *spawned) wait() int {
	sp.t.Helper()
	sp.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	line, err := bufio.NewReader(sp.conn).ReadString('\n')
	sp.conn.Close()
	if err != nil {
		sp.t.Fatalf("%v: no exit status from the spawner: %v", sp.argv, err)
	}
	ws, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		sp.t.Fatalf("%v: %s", sp.argv, line)
	}
	st := unix.WaitStatus(ws)
	if st.Signaled() {
		return 128 + int(st.Signal())
	}
	return st.ExitStatus()
}

// result waits and returns what the command printed (in its files).
func (sp *spawned) result() result {
	sp.t.Helper()
	code := sp.wait()
	r := result{code: code}
	if sp.out != nil {
		b, _ := os.ReadFile(sp.out.Name())
		r.stdout = string(b)
		sp.out.Close()
	}
	if sp.errf != nil {
		b, _ := os.ReadFile(sp.errf.Name())
		r.stderr = string(b)
		sp.errf.Close()
	}
	return r
}

func (o *ociRT) args(args ...string) []string {
	return append([]string{o.bin, "--root", o.root}, args...)
}

func (o *ociRT) run(args ...string) result {
	o.t.Helper()
	return o.start(o.args(args...), spawnOpts{}).result()
}

func (o *ociRT) ok(args ...string) string {
	o.t.Helper()
	r := o.run(args...)
	if r.code != 0 {
		o.t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(o.bin), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// runFiles runs c itself (not through the spawner) with its stdout and
// stderr in files.
func (o *ociRT) runFiles(c *exec.Cmd) result {
	o.t.Helper()
	out, err := os.CreateTemp(o.tmp, "out")
	if err != nil {
		o.t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.CreateTemp(o.tmp, "err")
	if err != nil {
		o.t.Fatal(err)
	}
	defer errf.Close()
	c.Stdout, c.Stderr = out, errf
	if err := c.Start(); err != nil {
		o.t.Fatalf("running %v: %v", c.Args, err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { c.Process.Kill() })
	err = c.Wait()
	if !timer.Stop() {
		o.t.Errorf("%v: killed after 2 minutes", c.Args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		o.t.Fatalf("running %v: %v", c.Args, err)
	}
	so, _ := os.ReadFile(out.Name())
	se, _ := os.ReadFile(errf.Name())
	return result{string(so), string(se), code}
}

// state is the container's OCI state ("" status if there is none).
func (o *ociRT) state(id string) specs.State {
	o.t.Helper()
	var st specs.State
	r := o.run("state", id)
	if r.code == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			o.t.Fatalf("state %s: %v: %s", id, err, r.stdout)
		}
	}
	return st
}

// bundle makes a bundle from the runtime's `spec --rootless`, terminal
// off, over a copy of the busybox test rootfs with the attacker at
// /attack; edit changes the spec before it is written.
func (o *ociRT) bundle(edit func(*specs.Spec)) string {
	t := o.t
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if b, err := exec.Command("cp", "-a", "--no-preserve=ownership", filepath.Join(env.cache, "rootfs", "busybox"), rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copying the rootfs: %v %s", err, b)
	}
	atk, err := os.ReadFile(attackBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "attack"), atk, 0o755); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(o.bin, "spec", "--rootless")
	c.Dir = dir
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s spec --rootless: %v %s", o.bin, err, b)
	}
	var s specs.Spec
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	if edit != nil {
		edit(&s)
	}
	writeSpec(t, dir, &s)
	return dir
}

func writeSpec(t *testing.T, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// allCaps is every capability: a container that has them all in its
// user namespace (a rootless --privileged one).
var allCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}

func withCaps(s *specs.Spec, caps []string) {
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
}

func bindMount(dest, src string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dest, Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...)}
}

// Pods: the runtime as root of a user namespace that maps the test user
// only (see the file's comment).

// podIDs maps the pod's user namespace's 0 (the test user) to itself.
var podIDs = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}

// podFirst makes s the first container of a pod: a user namespace of its
// own (mapped by podIDs) and new pid, mount, ipc and uts namespaces; no
// /sys or cgroup mount (runc 1.1.5 cannot bind /sys from a nested user
// namespace).
func podFirst(s *specs.Spec) {
	s.Linux.UIDMappings, s.Linux.GIDMappings = podIDs, podIDs
	s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.PIDNamespace},
		{Type: specs.MountNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}}
	var ms []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination != "/sys" && m.Destination != "/sys/fs/cgroup" {
			ms = append(ms, m)
		}
	}
	s.Mounts = ms
}

// podJoin makes s a member of the pod whose first container's pid is
// the placeholder @PID@ (the script fills it in): its user and pid
// namespaces by path, new mount, ipc and uts namespaces.
func (o *ociRT) podJoin(s *specs.Spec) {
	podFirst(s)
	s.Linux.Namespaces[0].Path = "/proc/@PID@/ns/user"
	s.Linux.Namespaces[1].Path = "/proc/@PID@/ns/pid"
	s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
	if strings.HasPrefix(filepath.Base(o.bin), "runc") {
		s.Linux.UIDMappings, s.Linux.GIDMappings = podIDs, podIDs
	}
}

// inPod runs script (sh) as root of a new user namespace that maps the
// test user only, under attack subreap. The script has $R (the runtime
// with its --root), the variables of vars and, for each bundle given,
// $B0, $B1, ...; `fill BUNDLE PID` puts the first container's pid into a
// member's config.json (from config.tmpl), `pidof_c ID` and `status_of
// ID` read a container's state.
func (o *ociRT) inPod(script string, vars []string, bundles ...string) result {
	o.t.Helper()
	return o.inPodWith(syscall.CLONE_NEWUSER, script, vars, bundles...)
}

// inPodWith is inPod with other namespaces of the runtime's own besides
// its user namespace (flags, CLONE_NEW*): with a mount namespace, the
// script may make mounts, which the containers' mount namespaces (of
// their own, less privileged user namespaces) then hold locked.
func (o *ociRT) inPodWith(flags uintptr, script string, vars []string, bundles ...string) result {
	o.t.Helper()
	env := append(os.Environ(), "R="+o.bin+" --root "+o.root)
	env = append(env, vars...)
	for i, b := range bundles {
		env = append(env, fmt.Sprintf("B%d=%s", i, b))
		// The members' configs name the pid only known at run time.
		if err := os.Rename(filepath.Join(b, "config.json"), filepath.Join(b, "config.tmpl")); err != nil {
			o.t.Fatal(err)
		}
		if err := os.Link(filepath.Join(b, "config.tmpl"), filepath.Join(b, "config.json")); err != nil {
			o.t.Fatal(err)
		}
	}
	prelude := `set -u
fill() { sed "s/@PID@/$2/g" "$1/config.tmpl" > "$1/config.json.new" && mv "$1/config.json.new" "$1/config.json"; }
pidof_c() { $R state "$1" | sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p'; }
status_of() { $R state "$1" 2>/dev/null | sed -n 's/^ *"status": *"\([a-z]*\)".*/\1/p'; }
`
	c := exec.Command(attackBin(o.t), "subreap", "/bin/sh", "-c", prelude+script)
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	return o.runFiles(c)
}

// reportHoles fails for each HOLE line of out, but those that match an
// allowed substring.
func reportHoles(t *testing.T, what, out string, allowed ...string) {
	t.Helper()
	var hs []string
	for _, h := range holeLines(out) {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.Contains(h, a)
		}
		if !ok {
			hs = append(hs, h)
		}
	}
	if len(hs) > 0 {
		t.Errorf("%s:\n%s", what, strings.Join(uniq(hs), "\n"))
	}
}

// TestOCIEscapeCreatedProcess attacks the process that waits for start
// (it holds the start FIFO, a file of the host's state directory) from
// a process exec'd into the created container: ptrace, its /proc/1
// files, pidfd_getfd, process_vm_readv, and its fds, cwd and root
// walked up to a host-only file.
func TestOCIEscapeCreatedProcess(t *testing.T) {
	o := newOCIRT(t)
	_, marker := hostMarker(t)
	b := o.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "600"}
		withCaps(s, allCaps)
	})
	o.ok("create", "--bundle", b, "cr")
	defer o.run("delete", "--force", "cr")
	for _, args := range [][]string{{"ptrace"}, {"fdwalk", "-pids", "1", "-marker", marker}} {
		r := o.run(append([]string{"exec", "cr", "/attack"}, args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "OK") && len(holeLines(r.stdout)) == 0 {
			t.Fatalf("exec /attack %s: exit %d\n%s%s", args[0], r.code, r.stdout, r.stderr)
		}
		reportHoles(t, "an exec'd process reached the created container's waiting process ("+args[0]+")", r.stdout)
	}
	if st := o.state("cr"); st.Status != specs.StateCreated {
		t.Errorf("after the attacks the container is %q, want created", st.Status)
	}
}

// TestOCIEscapeCreatedProcessFromPod attacks a created container's
// waiting process from a second container, with every capability in
// their shared user namespace, that joined its pid namespace by path.
func TestOCIEscapeCreatedProcessFromPod(t *testing.T) {
	o := newOCIRT(t)
	a := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "600"}; podFirst(s) })
	b := o.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"/attack", "ptrace"}
		o.podJoin(s)
		withCaps(s, allCaps)
	})
	r := o.inPod(`
$R create --bundle "$B0" a </dev/null >/dev/null || exit 1
fill "$B1" "$(pidof_c a)"
$R run --bundle "$B1" b </dev/null
echo "A-STATUS $(status_of a)"
$R delete --force a
`, nil, a, b)
	if r.code != 0 || !strings.Contains(r.stdout, "INFO target pid=1 ") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The directory /proc/1/fd is the user's (the waiting process's
	// owner when it is not dumpable is root of the runtime's user
	// namespace, the test user): listing it shows fd numbers only; its
	// links need ptrace access, which the attacker tries.
	reportHoles(t, "a pod member reached a created container's waiting process", r.stdout, "listed /proc/1/fd")
	if !strings.Contains(r.stdout, "A-STATUS created") {
		t.Errorf("the first container is no longer created:\n%s", r.stdout)
	}
}

// TestOCIEscapePodJoinBirth attacks the moment a container's process is
// born into a pid namespace that another container's processes share
// (a pod member, joining by path): from its first instruction it must be
// out of their reach. Before it is set up it is a copy of the runtime
// with the host's root and working directory and the runtime's fds; a
// process with every capability of the pod's user namespace attaches to
// each new pid of that namespace with ptrace the moment it exists.
func TestOCIEscapePodJoinBirth(t *testing.T) {
	o := newOCIRT(t)
	_, marker := hostMarker(t)
	out := t.TempDir()
	a := o.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"/attack", "spawnrace", "-marker", marker, "-for", "8s", "-ready", "/out/ready", "-out", "/out/report"}
		podFirst(s)
		withCaps(s, allCaps)
		s.Mounts = append(s.Mounts, bindMount("/out", out))
	})
	b := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"true"}; o.podJoin(s) })
	r := o.inPod(`
$R run -d --bundle "$B0" a </dev/null >/dev/null || exit 1
i=0; while [ ! -e "$OUT/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
fill "$B1" "$(pidof_c a)"
ok=0; i=0; end=$(( $(date +%s) + 6 ))
while [ $i -lt 60 ] && [ $(date +%s) -lt $end ]; do
	$R run --bundle "$B1" b$i </dev/null >/dev/null 2>>"$OUT/b.err" && ok=$((ok+1))
	i=$((i+1))
done
echo "RUNS $ok of $i"
i=0; while [ ! -e "$OUT/report" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
$R delete --force a
`, []string{"OUT=" + out}, a, b)
	t.Logf("%s", strings.TrimSpace(r.stdout))
	rep, err := os.ReadFile(filepath.Join(out, "report"))
	if err != nil {
		t.Fatalf("no report from the attacker (exit %d): %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	var runs, tries int
	if i := strings.Index(r.stdout, "RUNS "); i >= 0 {
		fmt.Sscanf(r.stdout[i:], "RUNS %d of %d", &runs, &tries)
	}
	if runs < 10 {
		be, _ := os.ReadFile(filepath.Join(out, "b.err"))
		t.Fatalf("only %d of %d pod members ran: %s", runs, tries, be)
	}
	reportHoles(t, fmt.Sprintf("a pod member's process was reached at its birth (%d members run)", runs), string(rep))
}

// TestOCIEscapePodMemberKill: kill --all, delete --force and ps of a pod
// member (a container that joined another's pid namespace by path) act
// on that member only. The other container's processes share the pid
// namespace but are not the member's: runc, without a cgroup, signals
// the member's process only.
func TestOCIEscapePodMemberKill(t *testing.T) {
	o := newOCIRT(t)
	a := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "600"}; podFirst(s) })
	b := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "600"}; o.podJoin(s) })
	r := o.inPod(`
$R run -d --bundle "$B0" a </dev/null >/dev/null || exit 1
apid=$(pidof_c a)
fill "$B1" "$apid"
echo "APID $apid"
alive() { if [ -d /proc/$apid ] && ! grep -q '^State:.Z' /proc/$apid/status && [ "$(status_of a)" = running ]; then echo "$1 A-ALIVE"; else echo "$1 A-DEAD"; fi; }
$R run -d --bundle "$B1" b1 </dev/null >/dev/null || exit 1
echo "PS $($R ps --format json b1)"
$R kill --all b1 KILL; sleep 0.5; alive kill-all
$R delete --force b1
if $R run -d --bundle "$B1" b2 </dev/null >/dev/null; then
	$R delete --force b2; sleep 0.5; alive delete-force
fi
$R delete --force a
`, nil, a, b)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var apid int
	for _, l := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "APID "); ok {
			apid, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(l, "PS "); ok && apid > 0 {
			var pids []int
			if json.Unmarshal([]byte(v), &pids) == nil {
				for _, p := range pids {
					if p == apid {
						t.Errorf("ps of the pod member lists the other container's process %d: %s", apid, v)
					}
				}
			}
		}
	}
	for _, what := range []string{"kill-all", "delete-force"} {
		if !strings.Contains(r.stdout, what+" A-ALIVE") {
			t.Errorf("%s of the pod member ended the other container:\n%s%s", what, r.stdout, r.stderr)
		}
	}
}

// openFDs opens for a child a host directory (the marker's) as its fds
// 3, 7 and 20 and a host file (the marker) as 4, 21 and 30.
func openFDs(t *testing.T, marker string) map[int]*os.File {
	t.Helper()
	dir, err := os.Open(filepath.Dir(marker))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.OpenFile(marker, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close(); file.Close() })
	return map[int]*os.File{3: dir, 7: dir, 20: dir, 4: file, 21: file, 30: file}
}

// holders are our descendants (see ourProcesses) that hold an fd of the
// marker or of its directory.
func holders(marker string) []string {
	var out []string
	dir := filepath.Dir(marker)
	for _, pid := range ourProcesses() {
		d := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(d)
		if err != nil {
			continue // gone, or not ours to read (not dumpable)
		}
		for _, e := range ents {
			if l, err := os.Readlink(d + "/" + e.Name()); err == nil && (l == marker || l == dir) {
				out = append(out, fmt.Sprintf("pid %d (%s) fd %s -> %s", pid, strings.ReplaceAll(cmdline(pid), "\x00", " "), e.Name(), l))
			}
		}
	}
	return out
}

// TestOCIEscapeInheritedFDs passes the caller's fds beyond stdio (a host
// directory and a host file, at low and high numbers) to create, run -d,
// exec and exec --detach: none may reach a process of the container, nor
// stay open in any process the runtime leaves behind.
func TestOCIEscapeInheritedFDs(t *testing.T) {
	o := newOCIRT(t)
	_, marker := hostMarker(t)
	b := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "600"} })
	withFDs := func(args ...string) result {
		t.Helper()
		return o.start(o.args(args...), spawnOpts{extra: openFDs(t, marker)}).result()
	}
	check := func(what string) {
		t.Helper()
		if hs := holders(marker); len(hs) > 0 {
			t.Errorf("%s: the caller's fds stay open in processes the runtime left:\n%s", what, strings.Join(hs, "\n"))
		}
	}
	inside := func(what, id string) {
		t.Helper()
		r := o.run("exec", id, "/attack", "fdwalk", "-pids", "all", "-marker", marker)
		reportHoles(t, what+": a process of the container reaches the host through an fd", r.stdout)
		for _, l := range strings.Split(r.stdout, "\n") {
			var pid int
			var fd string
			if n, _ := fmt.Sscanf(l, "INFO pid=%d fd=%s", &pid, &fd); n == 2 {
				if v, _ := strconv.Atoi(fd); v > 2 {
					t.Errorf("%s: a process of the container holds an fd beyond stdio: %s", what, l)
				}
			}
		}
	}
	if r := withFDs("create", "--bundle", b, "f1"); r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	defer o.run("delete", "--force", "f1")
	check("create")
	o.ok("start", "f1")
	inside("create", "f1")
	check("start")
	if r := withFDs("run", "-d", "--bundle", b, "f2"); r.code != 0 {
		t.Fatalf("run -d: exit %d: %s", r.code, r.stderr)
	}
	defer o.run("delete", "--force", "f2")
	check("run -d")
	inside("run -d", "f2")
	if r := withFDs("exec", "f2", "sh", "-c", "ls /proc/self/fd"); r.code != 0 || strings.Fields(r.stdout)[0] != "0" {
		t.Fatalf("exec: exit %d: %s %s", r.code, r.stdout, r.stderr)
	} else if got := strings.Fields(r.stdout); len(got) != 4 {
		// 0, 1, 2 and ls's own directory fd.
		t.Errorf("exec: the process's fds are %v, want stdio only", got)
	}
	if r := withFDs("exec", "--detach", "f2", "sleep", "600"); r.code != 0 {
		t.Fatalf("exec --detach: exit %d: %s", r.code, r.stderr)
	}
	check("exec --detach")
	inside("exec --detach", "f2")
}

// TestOCIEscapeEnvironment: nothing of the caller's environment reaches
// the container's process or an exec'd one, created or running: they
// have the bundle's (or the process's) variables, and HOME.
func TestOCIEscapeEnvironment(t *testing.T) {
	o := newOCIRT(t)
	secret := "OCI_ESCAPE_SECRET=" + randomToken(t)
	b := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "600"} })
	withEnv := func(args ...string) result {
		t.Helper()
		return o.start(o.args(args...), spawnOpts{env: []string{secret}}).result()
	}
	if r := withEnv("create", "--bundle", b, "en"); r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	defer o.run("delete", "--force", "en")
	for _, state := range []string{"created", "running"} {
		r := withEnv("exec", "en", "sh", "-c", "env; echo; tr '\\0' '\\n' < /proc/self/environ")
		if r.code != 0 || !strings.Contains(r.stdout, "PATH=") {
			t.Fatalf("exec (%s): exit %d: %s %s", state, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, secret) {
			t.Errorf("exec (%s): the caller's environment reached the process:\n%s", state, r.stdout)
		}
		if state == "created" {
			withEnv("start", "en")
		}
	}
	r := o.run("exec", "en", "cat", "/proc/1/environ")
	if r.code != 0 || strings.Contains(r.stdout, secret) {
		t.Errorf("the container's process: exit %d, environment %q", r.code, r.stdout)
	}
}

// TestOCIEscapeExecBirth attacks the process that exec puts into a
// running container, from the container (every capability of its user
// namespace): it attaches with ptrace to each new pid of the container's
// pid namespace the moment it exists; the exec'd process must be out of
// its reach until it is the command.
func TestOCIEscapeExecBirth(t *testing.T) {
	o := newOCIRT(t)
	_, marker := hostMarker(t)
	out := t.TempDir()
	b := o.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"/attack", "spawnrace", "-marker", marker, "-for", "6s", "-ready", "/out/ready", "-out", "/out/report"}
		withCaps(s, allCaps)
		s.Mounts = append(s.Mounts, bindMount("/out", out))
	})
	o.ok("run", "-d", "--bundle", b, "eb")
	defer o.run("delete", "--force", "eb")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(out, "ready")); err == nil {
			break
		}
	}
	n := 0
	for deadline := time.Now().Add(4 * time.Second); n < 60 && time.Now().Before(deadline); n++ {
		if r := o.run("exec", "eb", "true"); r.code != 0 {
			// The attacker (the container's init) ends after its
			// window: on a loaded machine that can come before the
			// last exec, which its pid namespace's end kills.
			if r.code == 137 && readFD(t, filepath.Join(out, "report")) != "" {
				break
			}
			t.Fatalf("exec: exit %d: %s", r.code, r.stderr)
		}
	}
	var rep string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if rep = readFD(t, filepath.Join(out, "report")); rep != "" {
			break
		}
	}
	if rep == "" {
		t.Fatal("no report from the attacker")
	}
	t.Logf("%d execs; %s", n, strings.TrimSpace(rep))
	reportHoles(t, "an exec'd process was reached before it was the command", rep)
}

// TestOCIEscapeCallerTerminal runs run and exec in the foreground on a
// terminal, without process.terminal: the caller's terminal must not be
// handed in (runc gives pipes), so that a process the container leaves
// behind cannot read what the user types next, nor push input into it.
func TestOCIEscapeCallerTerminal(t *testing.T) {
	o := newOCIRT(t)
	out := t.TempDir()
	// onPTY runs the runtime on a new terminal, its controlling one.
	onPTY := func(t *testing.T, args ...string) (*os.File, *spawned, unix.Stat_t) {
		t.Helper()
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no ptys here: %v", err)
		}
		t.Cleanup(func() { ptmx.Close() })
		defer tty.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(tty.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := ptmx.Read(buf); err != nil {
					return
				}
			}
		}()
		return ptmx, o.start(o.args(args...), spawnOpts{stdin: tty, stdout: tty, stderr: tty, ctty: true}), st
	}
	notCallers := func(t *testing.T, what, report string, st unix.Stat_t) {
		t.Helper()
		if !strings.Contains(report, "FD 2") {
			t.Fatalf("%s: no report: %q", what, report)
		}
		if callers := fmt.Sprintf("file=%d:%d", st.Dev, st.Ino); strings.Contains(report, callers) {
			t.Errorf("%s: the container got the caller's terminal (%s) without process.terminal:\n%s", what, callers, report)
		}
	}
	t.Run("run", func(t *testing.T) {
		b := o.bundle(func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", "/attack ttycheck -out /out/run; /attack tiocsti > /out/sti"}
			s.Mounts = append(s.Mounts, bindMount("/out", out))
		})
		_, sp, st := onPTY(t, "run", "--bundle", b, "tr")
		sp.wait()
		o.run("delete", "--force", "tr")
		notCallers(t, "run", readFD(t, filepath.Join(out, "run")), st)
		reportHoles(t, "run: the container pushed input into the caller's terminal", readFD(t, filepath.Join(out, "sti")))
	})
	t.Run("exec", func(t *testing.T) {
		b := o.bundle(func(s *specs.Spec) {
			s.Process.Args = []string{"sleep", "600"}
			s.Mounts = append(s.Mounts, bindMount("/out", out))
		})
		o.ok("run", "-d", "--bundle", b, "te")
		defer o.run("delete", "--force", "te")
		ptmx, sp, st := onPTY(t, "exec", "te", "sh", "-c", "/attack ttycheck -out /out/exec; /attack ttyread -out /out/left -for 5s & sleep 0.3")
		sp.wait()
		notCallers(t, "exec", readFD(t, filepath.Join(out, "exec")), st)
		// exec is gone; its background process stays. Type a secret.
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(readFD(t, filepath.Join(out, "left")), "STARTED") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		secret := "typed-after-exec-" + randomToken(t)
		ptmx.Write([]byte(secret + "\n"))
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(readFD(t, filepath.Join(out, "left")), "DONE") && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		if got := readFD(t, filepath.Join(out, "left")); strings.Contains(got, secret) {
			t.Errorf("a process exec left behind read what the caller typed on the terminal:\n%s", got)
		}
	})
}

// snapshot is every name under dir with its content (files) or its link
// target (symlinks).
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		fmt.Fprintf(&b, "%s %v", strings.TrimPrefix(p, dir), fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		case fi.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", c)
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// up is a relative path from the bundle's rootfs (a few levels below
// /tmp) that climbs past the host's root.
const up = "../../../../../../../../../.."

// TestOCIEscapeBundlePaths tries path tricks in a bundle whose rootfs
// (the image's, or a former run's writes) the attacker controls: mount
// destinations, /dev, /proc, masked and read-only paths, devices and
// sysctls through symlinks that point out of the root (absolute and
// relative), dangling ones, .. and magic links. A case may fail to run
// or run; the host directory the links point at must stay as it was,
// and a masked path must never show anything but nothing.
func TestOCIEscapeBundlePaths(t *testing.T) {
	o := newOCIRT(t)
	h := t.TempDir()
	for _, d := range []string{"target", "src", "fakedev/pts", "fakedev/shm", "fakedev/mqueue", "fakedev2/pts", "fakedev2/shm", "fakedev2/mqueue"} {
		if err := os.MkdirAll(filepath.Join(h, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(h, "target", "host-file"), []byte("host\n"), 0o644)
	os.WriteFile(filepath.Join(h, "src", "src-file"), []byte("src\n"), 0o644)
	os.Symlink("/proc/sys/kernel/core_pattern", filepath.Join(h, "fakedev", "null"))
	os.WriteFile(filepath.Join(h, "fakedev2", "null"), []byte("not the null device\n"), 0o644)
	src := bindMount("", filepath.Join(h, "src"), "ro")
	at := func(dest string) specs.Mount { m := src; m.Destination = dest; return m }
	fakeDev := func(dir string) func(s *specs.Spec) {
		return func(s *specs.Spec) {
			for i, m := range s.Mounts {
				if m.Destination == "/dev" {
					s.Mounts[i] = bindMount("/dev", filepath.Join(h, dir))
				}
			}
			s.Linux.MaskedPaths = []string{"/proc/version"}
			s.Process.Args = []string{"sh", "-c", "echo MASKED; cat /proc/version; echo END"}
		}
	}
	cases := []struct {
		name  string
		links map[string]string // in the rootfs: name -> symlink target
		edit  func(s *specs.Spec)
	}{
		{"mount-abs-symlink", map[string]string{"mnt1": h + "/target"}, func(s *specs.Spec) { s.Mounts = append(s.Mounts, at("/mnt1/x")) }},
		{"mount-rel-symlink", map[string]string{"mnt2": up + h + "/target"}, func(s *specs.Spec) { s.Mounts = append(s.Mounts, at("/mnt2/x")) }},
		{"mount-dangling-abs", map[string]string{"mnt3": h + "/newdir"}, func(s *specs.Spec) { s.Mounts = append(s.Mounts, at("/mnt3")) }},
		{"mount-dangling-rel", map[string]string{"mnt4": up + h + "/newdir2"}, func(s *specs.Spec) { s.Mounts = append(s.Mounts, at("/mnt4")) }},
		{"mount-dotdot", nil, func(s *specs.Spec) { s.Mounts = append(s.Mounts, at("/"+up+h+"/target/y")) }},
		{"mount-file-symlink", map[string]string{"etc/hostname": h + "/target/host-file"}, func(s *specs.Spec) {
			m := at("/etc/hostname")
			m.Source, m.Options = filepath.Join(h, "src", "src-file"), []string{"bind", "ro"}
			s.Mounts = append(s.Mounts, m)
		}},
		{"dev-abs-symlink", map[string]string{"dev": h + "/devtarget"}, nil},
		{"dev-rel-symlink", map[string]string{"dev": up + h + "/target"}, nil},
		{"proc-symlink", map[string]string{"proc": h + "/target"}, nil},
		{"masked-null-symlink", nil, fakeDev("fakedev")},
		{"masked-null-file", nil, fakeDev("fakedev2")},
		{"readonly-symlink", map[string]string{"ro1": h + "/target"}, func(s *specs.Spec) { s.Linux.ReadonlyPaths = []string{"/ro1"} }},
		{"readonly-magic", nil, func(s *specs.Spec) {
			s.Linux.ReadonlyPaths = []string{"/proc/self/fd/4", "/proc/self/cwd", "/proc/1/root"}
		}},
		{"masked-magic", nil, func(s *specs.Spec) {
			s.Linux.MaskedPaths = []string{"/proc/self/fd/4", "/proc/self/fd/5", "/proc/self/cwd"}
		}},
		{"cwd-symlink", map[string]string{"lnk": h + "/target"}, func(s *specs.Spec) { s.Process.Cwd = "/lnk" }},
		{"device-dotdot", nil, func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/../" + up + h + "/target/dev-null", Type: "c", Major: 1, Minor: 3}}
		}},
		{"device-symlink", map[string]string{"dev/dd": h + "/target"}, func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/dd/null2", Type: "c", Major: 1, Minor: 3}}
			var ms []specs.Mount
			for _, m := range s.Mounts {
				if m.Destination != "/dev" {
					ms = append(ms, m)
				}
			}
			s.Mounts = ms
		}},
		{"sysctl-dotdot", nil, func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel/" + up + h + "/target/host-file": "x"} }},
		{"sysctl-abs", nil, func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{h + "/target/host-file": "x"} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := o.bundle(func(s *specs.Spec) {
				s.Process.Args = []string{"sh", "-c", "grep -v -E ' /(proc|sys)' /proc/self/mountinfo"}
				if c.edit != nil {
					c.edit(s)
				}
			})
			for name, target := range c.links {
				p := filepath.Join(b, "rootfs", name)
				os.RemoveAll(p)
				if err := os.Symlink(target, p); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, h)
			r := o.run("run", "--bundle", b, "p")
			o.run("delete", "--force", "p")
			t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			if after := snapshot(t, h); after != before {
				t.Errorf("the host directory changed:\nbefore:\n%safter:\n%s", before, after)
			}
			if m, ok := strings.CutPrefix(r.stdout, "MASKED\n"); ok && strings.TrimSpace(m) != "END" {
				t.Errorf("the masked /proc/version shows %q, not nothing", m)
			}
		})
	}
}

// TestOCIEscapeExecCwd runs exec --cwd through symlinks that point out of
// the root and through magic links: refused, or run inside the root.
func TestOCIEscapeExecCwd(t *testing.T) {
	o := newOCIRT(t)
	mdir, marker := hostMarker(t)
	b := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "600"} })
	for name, target := range map[string]string{"lnk-in": "/etc", "lnk-out": mdir, "lnk-rel": up + mdir} {
		if err := os.Symlink(target, filepath.Join(b, "rootfs", name)); err != nil {
			t.Fatal(err)
		}
	}
	o.ok("run", "-d", "--bundle", b, "cw")
	defer o.run("delete", "--force", "cw")
	for _, cwd := range []string{"/lnk-in", "/lnk-out", "/lnk-rel", "/lnk-rel/x", "/proc/self/fd/3", "/proc/self/fd/4", "/proc/self/fd/5",
		"/proc/self/fd/6", "/proc/1/cwd", "/proc/1/root", "/proc/self/root/etc", "/" + up + "/tmp"} {
		r := o.run(append([]string{"exec", "--cwd", cwd, "cw"}, cwdPayload(marker)...)...)
		if hs := holeLines(r.stdout); len(hs) > 0 {
			t.Errorf("exec --cwd %s: the process got a working directory outside the root:\n%s", cwd, strings.Join(hs, "\n"))
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			if pwd, ok := strings.CutPrefix(l, "PWD "); ok && strings.HasPrefix(pwd, mdir) {
				t.Errorf("exec --cwd %s: pwd -P inside is the host path %s", cwd, pwd)
			}
		}
		if cwd == "/lnk-in" && !strings.Contains(r.stdout, "PWD /etc") {
			t.Errorf("exec --cwd /lnk-in (a symlink to /etc inside the root): %d %s %s", r.code, r.stdout, r.stderr)
		}
	}
	assertOnly(t, mdir, filepath.Base(marker))
}

// mountFlags is the options field of the mount at dest in a mountinfo.
func mountFlags(mountinfo, dest string) string {
	for _, l := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == dest {
			return f[5]
		}
	}
	return ""
}

// TestOCIEscapeMountFlags: a bind's ro, nosuid, nodev and noexec hold
// once the container runs; its root (without CAP_SYS_ADMIN) cannot
// remount them away, and even with CAP_SYS_ADMIN it cannot clear the
// flags the kernel locked on a mount made outside its user namespace.
// Those mounts (a nosuid,nodev,noexec tmpfs, a read-only bind) are made
// by the runtime's caller, as root of its own user and mount namespaces
// (inPodWith); the container has a user namespace of its own below.
func TestOCIEscapeMountFlags(t *testing.T) {
	o := newOCIRT(t)
	plain, locked, ro := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "f"), []byte("ro\n"), 0o644)
	script := `grep -E ' /(ro|locked|hostro) ' /proc/self/mountinfo
try() { touch /ro/w 2>/dev/null && echo "WROTE /ro"; touch /hostro/w 2>/dev/null && echo "WROTE /hostro"; }
try
for spec in "/ro remount,bind,rw" "/ro remount,bind,suid,dev,exec" "/locked remount,bind,suid" "/locked remount,bind,dev" "/locked remount,bind,exec" "/hostro remount,bind,rw"; do
	set -- $spec; mount -o $2 $1 2>/dev/null && echo "REMOUNTED $1 $2"
done
echo AFTER; grep -E ' /(ro|locked|hostro) ' /proc/self/mountinfo
try`
	for _, admin := range []bool{false, true} {
		t.Run(fmt.Sprintf("sys_admin=%v", admin), func(t *testing.T) {
			b := o.bundle(func(s *specs.Spec) {
				s.Process.Args = []string{"sh", "-c", script}
				podFirst(s)
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/ro", Type: "bind", Source: plain, Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
					specs.Mount{Destination: "/locked", Type: "bind", Source: locked, Options: []string{"bind"}},
					specs.Mount{Destination: "/hostro", Type: "bind", Source: ro, Options: []string{"bind"}})
				if admin {
					withCaps(s, []string{"CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE"})
				}
			})
			r := o.inPodWith(syscall.CLONE_NEWUSER|syscall.CLONE_NEWNS, `
mount -t tmpfs -o nosuid,nodev,noexec,mode=755 tmpfs "$LOCKED" || exit 1
mount --bind "$RO" "$RO" && mount -o remount,bind,ro "$RO" || exit 1
$R run --bundle "$B0" mf </dev/null
$R delete --force mf
`, []string{"LOCKED=" + locked, "RO=" + ro}, b)
			t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			before, after, ok := strings.Cut(r.stdout, "AFTER\n")
			if !ok {
				t.Fatalf("no report: exit %d %s %s", r.code, r.stdout, r.stderr)
			}
			has := func(mountinfo, dest string, flags ...string) {
				t.Helper()
				got := "," + mountFlags(mountinfo, dest) + ","
				for _, f := range flags {
					if !strings.Contains(got, ","+f+",") {
						t.Errorf("the bind on %s lacks %s: %q", dest, f, got)
					}
				}
			}
			has(before, "/ro", "ro", "nosuid", "nodev", "noexec")
			has(before, "/locked", "nosuid", "nodev", "noexec")
			has(before, "/hostro", "ro")
			if !admin && strings.Contains(r.stdout, "REMOUNTED") {
				t.Errorf("a container without CAP_SYS_ADMIN remounted a bind:\n%s", r.stdout)
			}
			has(after, "/locked", "nosuid", "nodev", "noexec")
			has(after, "/hostro", "ro")
			if strings.Contains(r.stdout, "WROTE /hostro") || !admin && strings.Contains(r.stdout, "WROTE /ro") {
				t.Errorf("wrote to a read-only bind:\n%s", r.stdout)
			}
		})
	}
}

// seccompDenyMkdir is a filter that denies mkdir and mkdirat (EPERM).
var seccompDenyMkdir = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
	Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: func() *uint { v := uint(1); return &v }()}}}

// TestOCIEscapeSeccomp: the bundle's filter holds for the container's
// process and for every exec'd one (command line, --process, --detach).
func TestOCIEscapeSeccomp(t *testing.T) {
	o := newOCIRT(t)
	try := `mkdir /d 2>/dev/null && echo MKDIR-OK; grep -E '^Seccomp:' /proc/self/status`
	b := o.bundle(func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Args = []string{"sh", "-c", try + "; exec sleep 600"}
		s.Linux.Seccomp = seccompDenyMkdir
	})
	o.ok("run", "-d", "--bundle", b, "sc")
	defer o.run("delete", "--force", "sc")
	var s specs.Spec
	raw, _ := os.ReadFile(filepath.Join(b, "config.json"))
	json.Unmarshal(raw, &s)
	s.Process.Args = []string{"sh", "-c", try}
	pf := filepath.Join(t.TempDir(), "process.json")
	raw, _ = json.Marshal(s.Process)
	os.WriteFile(pf, raw, 0o644)
	for what, args := range map[string][]string{
		"exec":           {"exec", "sc", "sh", "-c", try},
		"exec --process": {"exec", "--process", pf, "sc"},
	} {
		r := o.run(args...)
		if strings.Contains(r.stdout, "MKDIR-OK") || !strings.Contains(r.stdout, "Seccomp:\t2") {
			t.Errorf("%s: the filter is not in force: exit %d %s %s", what, r.code, r.stdout, r.stderr)
		}
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	o.ok("exec", "--detach", "--pid-file", pidFile, "sc", "sleep", "600")
	for _, p := range []string{strconv.Itoa(o.state("sc").Pid), strings.TrimSpace(readFD(t, pidFile))} {
		st, err := os.ReadFile("/proc/" + p + "/status")
		if err != nil || !strings.Contains(string(st), "Seccomp:\t2") {
			t.Errorf("process %s (the container's or exec --detach's) is not under the filter: %v %s", p, err, st)
		}
	}
}

// TestOCIEscapeKeyring: the caller's session keyring stays out of the
// container's process and of exec'd ones.
func TestOCIEscapeKeyring(t *testing.T) {
	o := newOCIRT(t)
	desc := "oci-escape-" + randomToken(t)
	b := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"/attack", "keyring", "-desc", desc} })
	withKey := func(args ...string) result {
		t.Helper()
		return o.start(append([]string{attackBin(t), "withkey", "-desc", desc, "--"}, o.args(args...)...), spawnOpts{}).result()
	}
	r := withKey("run", "--bundle", b, "k0")
	o.run("delete", "--force", "k0")
	if !strings.Contains(r.stdout, "INFO session keyring") {
		t.Fatalf("run: no report: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	reportHoles(t, "run: the container's process has the caller's keys", r.stdout)
	b2 := o.bundle(func(s *specs.Spec) { s.Process.Args = []string{"sleep", "600"} })
	o.ok("create", "--bundle", b2, "k1")
	defer o.run("delete", "--force", "k1")
	for _, state := range []string{"created", "running"} {
		r := withKey("exec", "k1", "/attack", "keyring", "-desc", desc, "-serial", "{serial}", "-host-session", "{session}")
		if !strings.Contains(r.stdout, "INFO session keyring") {
			t.Fatalf("exec (%s): no report: exit %d %s %s", state, r.code, r.stdout, r.stderr)
		}
		reportHoles(t, "exec ("+state+"): the process has the caller's keys", r.stdout)
		if state == "created" {
			o.ok("start", "k1")
		}
	}
}

// TestOCIEscapeExecConsole: exec --tty gets a pty of the container's own
// devpts, whose master goes to the caller's console socket; the process's
// stdio is that pty's slave.
func TestOCIEscapeExecConsole(t *testing.T) {
	o := newOCIRT(t)
	out := t.TempDir()
	b := o.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "600"}
		s.Mounts = append(s.Mounts, bindMount("/out", out))
	})
	o.ok("run", "-d", "--bundle", b, "ec")
	defer o.run("delete", "--force", "ec")
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	master := make(chan *os.File, 1)
	go func() {
		defer close(master)
		l.SetDeadline(time.Now().Add(60 * time.Second))
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, 256), oob)
		if err != nil {
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if fds, err := unix.ParseUnixRights(&m); err == nil && len(fds) == 1 {
				master <- os.NewFile(uintptr(fds[0]), "master")
			}
		}
	}()
	var s specs.Spec
	raw, _ := os.ReadFile(filepath.Join(b, "config.json"))
	json.Unmarshal(raw, &s)
	s.Process.Terminal = true
	s.Process.Args = []string{"/attack", "ttycheck", "-out", "/out/t"}
	pf := filepath.Join(t.TempDir(), "process.json")
	raw, _ = json.Marshal(s.Process)
	os.WriteFile(pf, raw, 0o644)
	o.ok("exec", "--tty", "--detach", "--console-socket", sock, "--process", pf, "ec")
	m := <-master
	if m == nil {
		t.Fatal("no pty master on the console socket")
	}
	defer m.Close()
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := m.Read(buf); err != nil {
				return
			}
		}
	}()
	var ms, host unix.Stat_t
	if err := unix.Fstat(int(m.Fd()), &ms); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/dev/pts/ptmx", &host); err == nil && ms.Dev == host.Dev {
		t.Errorf("the pty is from the host's devpts, not the container's own")
	}
	var rep string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(rep, "FD 2") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		rep = readFD(t, filepath.Join(out, "t"))
	}
	for fd := 0; fd <= 2; fd++ {
		if !strings.Contains(rep, fmt.Sprintf("FD %d tty=true", fd)) {
			t.Errorf("fd %d of exec --tty's process is not a terminal: %q", fd, rep)
		}
	}
	if want := fmt.Sprintf("file=%d:", ms.Dev); strings.Count(rep, want) != 3 {
		t.Errorf("the process's terminal is not on the master's devpts (dev %d): %q", ms.Dev, rep)
	}
}

// TestOCIEscapeStateDir: no process of the container reaches the
// container's state directory (its start FIFO, its state.json); it is
// not writable by others; delete refuses a running container and, with
// --force, returns once every process of the container is dead, having
// removed the directory.
func TestOCIEscapeStateDir(t *testing.T) {
	o := newOCIRT(t)
	b := o.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `trap "" TERM HUP INT; sleep 6001 & exec sleep 6002`}
	})
	o.ok("create", "--bundle", b, "sd")
	defer o.run("delete", "--force", "sd")
	dir := filepath.Join(o.root, "sd")
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("no state directory %s: %v", dir, err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("the state directory %s is %v: writable by others", dir, fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) == 0 {
		t.Fatal("the state directory is empty")
	}
	marker := filepath.Join(dir, ents[0].Name())
	for _, state := range []string{"created", "running"} {
		r := o.run("exec", "sd", "/attack", "fdwalk", "-pids", "all", "-marker", marker)
		reportHoles(t, state+": a process of the container reaches the state directory", r.stdout)
		r = o.run("exec", "sd", "/attack", "cwdcheck", "-marker", marker)
		reportHoles(t, state+": an exec'd process's working directory reaches the state directory", r.stdout)
		if state == "created" {
			o.ok("start", "sd")
		}
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	o.ok("exec", "--detach", "--pid-file", pidFile, "sd", "sleep", "6003")
	if r := o.run("delete", "sd"); r.code == 0 {
		t.Errorf("delete without --force of a running container succeeded")
	}
	if st := o.state("sd"); st.Status != specs.StateRunning {
		t.Fatalf("after a refused delete the container is %q", st.Status)
	}
	var pids []int
	for _, pid := range ourProcesses() {
		if c := cmdline(pid); c == "sleep\x006001\x00" || c == "sleep\x006002\x00" || c == "sleep\x006003\x00" {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 3 {
		t.Fatalf("want the container's 3 sleeps among our processes, found %v", pids)
	}
	o.ok("delete", "--force", "sd")
	for _, pid := range pids {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(st), ") Z ") {
			t.Errorf("process %d of the container still runs after delete --force returned: %s", pid, st)
		}
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("the state directory is still there after delete --force: %v", err)
	}
}

// TestOCIEscapeRuntimeBinaryHostPID attacks the runtime's binary
// (CVE-2019-5736's way) from a container that has no pid namespace of
// its own, as podman --pid=host and Kubernetes' hostPID give: with every
// capability of its user namespace, it looks for a process running the
// runtime's binary among all it can see, holds its /proc/PID/exe, and
// once that process has ended (the container's init exits, the attacker
// lives on in the caller's pid namespace) reopens it for writing. The
// staged runtime belongs to the test user, so only the runtime's own
// processes stand between a container and its binary.
func TestOCIEscapeRuntimeBinaryHostPID(t *testing.T) {
	o := newOCIRT(t)
	hash := fileHash(t, o.bin)
	out := t.TempDir()
	b := o.bundle(func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
		// The caller's pid namespace's /proc: bound, as a user
		// namespace cannot mount it.
		for i, m := range s.Mounts {
			if m.Destination == "/proc" {
				s.Mounts[i] = bindMount("/proc", "/proc")
			}
		}
		s.Mounts = append(s.Mounts, bindMount("/out", out))
		withCaps(s, allCaps)
		s.Process.Args = []string{"sh", "-c", "setsid /attack exewrite -hash " + hash + " -hold 6s > /out/r 2>&1 & sleep 1"}
	})
	r := o.run("run", "--bundle", b, "rb")
	o.run("delete", "--force", "rb")
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var rep string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rep = readFD(t, filepath.Join(out, "r"))
		if strings.Contains(rep, "\nOK") || strings.HasPrefix(rep, "OK") || len(holeLines(rep)) > 0 {
			break
		}
	}
	if !strings.Contains(rep, "OK") && len(holeLines(rep)) == 0 {
		t.Fatalf("no report from the attacker: %q", rep)
	}
	reportHoles(t, "a container without a pid namespace of its own reached the runtime's binary", rep)
	if got := fileHash(t, o.bin); got != hash {
		t.Errorf("the runtime's binary changed")
	}
}
