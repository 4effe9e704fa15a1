//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"usandbox/userns"
)

// withImages returns a store holding busybox (and debian if asked).
func withImages(t *testing.T, debian bool) *store {
	t.Helper()
	s := newStore(t)
	s.ok("pull", "-q", ociRef("busybox", "latest"))
	if debian {
		s.ok("pull", "-q", ociRef("debian", "bookworm"))
	}
	return s
}

// sandboxes lists the sandbox directories in the store.
func (s *store) sandboxes() []string {
	ents, _ := os.ReadDir(filepath.Join(s.root, "sandboxes"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func (s *store) assertNoSandboxes() {
	s.t.Helper()
	if sb := s.sandboxes(); len(sb) != 0 {
		s.t.Fatalf("sandbox directories left: %v", sb)
	}
}

func TestRunEcho(t *testing.T) {
	s := withImages(t, false)
	r := s.run("run", "--rm", "busybox", "echo", "hello", "world")
	if r.code != 0 || r.stdout != "hello world\n" || r.stderr != "" {
		t.Fatalf("got %+v", r)
	}
	// stdout and stderr stay separate streams without -t.
	r = s.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
	if r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("streams mixed: %+v", r)
	}
	s.assertNoSandboxes()
}

func TestRunExitCodes(t *testing.T) {
	s := withImages(t, false)
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"true"}, 0, ""},
		{[]string{"sh", "-c", "exit 42"}, 42, ""},
		{[]string{"sh", "-c", "kill -9 $$"}, 137, ""},
		{[]string{"/etc/passwd"}, 126, "permission denied"},
		{[]string{"/tmp"}, 126, "permission denied"},
		{[]string{"no-such-command"}, 127, "executable file not found"},
		{[]string{"/no/such/path"}, 127, "no such file"},
	} {
		r := s.run(append([]string{"run", "--rm", "busybox"}, tt.args...)...)
		if r.code != tt.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tt.args, r.code, tt.code, r.stderr)
			continue
		}
		if tt.err != "" {
			assertOneErrorLine(t, r.stderr, tt.err)
		}
	}
	s.assertNoSandboxes()
}

func TestRunSignals(t *testing.T) {
	s := withImages(t, false)
	// A command with no handler still ends on SIGTERM: the init is pid 1.
	c := s.cmd("run", "--rm", "busybox", "sh", "-c", "echo ready >&2; exec sleep 30")
	_, done := startUntil(t, c, "ready")
	start := time.Now()
	c.Process.Signal(syscall.SIGTERM)
	if code := exitCode(<-done); code != 143 {
		t.Fatalf("SIGTERM: exit %d, want 143", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("SIGTERM took %v", d)
	}
	// Other signals reach the command's handlers.
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGINT} {
		c = s.cmd("run", "--rm", "busybox", "sh", "-c",
			fmt.Sprintf(`trap 'echo got %d; exit 7' %d; echo ready >&2; while :; do sleep 0.05; done`, sig, sig))
		var out strings.Builder
		c.Stdout = &out
		_, done = startUntil(t, c, "ready")
		c.Process.Signal(sig)
		if code := exitCode(<-done); code != 7 || out.String() != fmt.Sprintf("got %d\n", sig) {
			t.Fatalf("%v: exit %d, stdout %q", sig, code, out.String())
		}
	}
	s.assertNoSandboxes()
}

func TestRunUIDMapAndVolumeOwnership(t *testing.T) {
	s := withImages(t, false)
	uidMap := ownMap(t, "/etc/subuid", uint32(os.Getuid()))
	out := s.ok("run", "--rm", "busybox", "cat", "/proc/self/uid_map")
	got, err := userns.ParseIDMap(strings.NewReader(out))
	if err != nil || len(got) != len(uidMap) {
		t.Fatalf("uid_map inside: %q", out)
	}
	for i := range got {
		if got[i] != uidMap[i] {
			t.Fatalf("uid_map inside %v, want %v", got, uidMap)
		}
	}
	vol := t.TempDir()
	os.Chmod(vol, 0o777)
	s.ok("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "touch /data/by-root && chown 1000:1000 /data/by-root")
	s.ok("run", "--rm", "-v", vol+":/data", "-u", "1000:1000", "busybox", "touch", "/data/by-1000")
	for name, want := range map[string]uint32{"by-root": mustHost(t, uidMap, 1000), "by-1000": mustHost(t, uidMap, 1000)} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(vol, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != want {
			t.Errorf("%s is owned by %d on the host, want %d", name, st.Uid, want)
		}
	}
	// Read-only volumes stay read-only.
	r := s.run("run", "--rm", "-v", vol+":/data:ro", "busybox", "touch", "/data/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Fatalf("write to a :ro volume: %+v", r)
	}
}

func mustHost(t *testing.T, m []userns.IDMap, id uint32) uint32 {
	h, ok := userns.ToHost(m, id)
	if !ok {
		t.Fatalf("%d unmapped", id)
	}
	return h
}

func TestRunUserAndConfig(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("run", "--rm", "-u", "1000:1000", "busybox", "id"); strings.TrimSpace(out) != "uid=1000(user) gid=1000(user) groups=1000(user)" {
		t.Fatalf("id as 1000: %q", out)
	}
	if out := s.ok("run", "--rm", "-u", "nobody", "busybox", "id", "-u"); strings.TrimSpace(out) != "65534" {
		t.Fatalf("id as nobody: %q", out)
	}
	s.fails(125, "unable to find user ghost", "run", "--rm", "-u", "ghost", "busybox", "id")
	out := s.ok("run", "--rm", "-w", "/new/dir", "-e", "FOO=bar", "--hostname", "box", "busybox", "sh", "-c", "pwd; echo $FOO; hostname; cat /etc/hostname; grep -c box /etc/hosts; echo $PATH")
	want := "/new/dir\nbar\nbox\nbox\n1\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	if out != want {
		t.Fatalf("config: got %q, want %q", out, want)
	}
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# comment\nA=1\nB=two words\n"), 0o644)
	if out := s.ok("run", "--rm", "--env-file", envFile, "-e", "A=override", "busybox", "sh", "-c", `echo "$A/$B"`); out != "override/two words\n" {
		t.Fatalf("env file: %q", out)
	}
	s.assertNoSandboxes()
}

func TestRunLayerSemanticsInside(t *testing.T) {
	s := withImages(t, true)
	out := s.ok("run", "--rm", "debian:bookworm", "bash", "-c", `cd /usandbox-fixtures
stat -c '%n %u %g %a' owned-1000.txt owned-65534.txt dir-1000 setuid-bin
[ "$(stat -c %i hardlink-a.txt)" = "$(stat -c %i hardlink-b.txt)" ] && echo hardlink-shared
readlink symlink; cat symlink
ls -A opaque
test -e doomed.txt || echo doomed-gone
test -e /etc/motd || echo motd-gone`)
	want := `owned-1000.txt 1000 1000 644
owned-65534.txt 65534 65534 644
dir-1000 1000 1000 750
setuid-bin 0 0 4755
hardlink-shared
keep.txt
keep
new.txt
doomed-gone
motd-gone
`
	if out != want {
		t.Fatalf("inside the Debian image:\n%s\nwant:\n%s", out, want)
	}
	// A full map allows setgroups: su and apt's privilege drop work.
	out = s.ok("run", "--rm", "debian:bookworm", "bash", "-c", "su -s /bin/sh nobody -c 'id -u; id -G'; setpriv --reuid 1000 --regid 1000 --clear-groups id -u")
	if out != "65534\n65534\n1000\n" {
		t.Fatalf("su/setgroups inside: %q", out)
	}
}

func TestRunHardening(t *testing.T) {
	s := withImages(t, false)
	for _, tt := range []struct {
		name   string
		script string
	}{
		{"proc files masked", `for f in keys timer_list kcore sched_debug latency_stats interrupts; do [ ! -e /proc/$f ] || [ "$(wc -c < /proc/$f)" = 0 ] || exit 1; done; [ -e /proc/keys ] && [ -e /proc/timer_list ]`},
		{"sys/firmware masked", `[ -z "$(ls -A /sys/firmware)" ]`},
		{"sysrq-trigger not writable", `! echo h > /proc/sysrq-trigger`},
		{"proc/sys read-only", `! echo 1 > /proc/sys/kernel/ns_last_pid`},
		{"no mount over /proc", `! mount -t proc proc /proc`},
		{"no mount of a new proc", `mkdir -p /mnt/p && ! mount -t proc proc /mnt/p`},
		{"rootfs cannot be remounted", `! mount -o remount,rw /`},
		{"sys cannot be remounted rw", `! mount -o remount,rw /sys`},
		{"sys read-only", `! touch /sys/kernel/x 2>/dev/null`},
		{"init's binary unreachable", `! cat /proc/1/exe > /dev/null 2>&1 && ! ls -l /proc/1/exe 2>/dev/null | grep -q usandbox`},
		{"init's binary not writable", `! echo x >> /proc/1/exe`},
		{"no CAP_SYS_ADMIN", `grep -q '^CapBnd:\s*00000000a80425fb$' /proc/self/status`},
		{"host paths not visible", `[ ! -e ` + s.root + ` ] && [ ! -e /proc/self/root` + s.root + ` ]`},
		{"host processes not visible", `[ "$(ls /proc | grep -c '^[0-9]')" -le 5 ]`},
		{"pid 1 is the init", `[ "$(cat /proc/1/comm)" = usandbox-init ]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.run("run", "--rm", "busybox", "sh", "-c", tt.script)
			if r.code != 0 {
				t.Fatalf("%s: exit %d\n%s%s", tt.script, r.code, r.stdout, r.stderr)
			}
		})
	}
	r := s.run("run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Fatalf("--read-only: %+v", r)
	}
	s.ok("run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /dev/shm/x /tmp/../dev/shm/y")
	if out := s.ok("run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapBnd", "/proc/self/status"); !strings.Contains(out, "0000000000000000") {
		t.Fatalf("--cap-drop ALL: %q", out)
	}
	if out := s.ok("run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status"); !strings.Contains(out, "1") {
		t.Fatalf("no-new-privileges: %q", out)
	}
	s.assertNoSandboxes()
}

func TestRunNoFDLeak(t *testing.T) {
	s := withImages(t, false)
	c := exec.Command("bash", "-c", `exec 7</etc/hostname 8>/dev/null; exec "$@"`, "bash",
		env.bin, "--root", s.root, "--runroot", s.runroot, "run", "--rm", "busybox", "ls", "/proc/self/fd")
	out, err := c.Output()
	if err != nil {
		t.Fatal(err)
	}
	// ls itself opens one directory: 0 1 2 3.
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "0 1 2 3" {
		t.Fatalf("fds inside: %v", got)
	}
}

// A symlink in the image must not lead a mount target or the working
// directory out of the root filesystem.
func TestRunPathsStayInside(t *testing.T) {
	s := withImages(t, false)
	outside := filepath.Join(t.TempDir(), "outside")
	layer := t.TempDir()
	os.Symlink("/../../../../../.."+outside, filepath.Join(layer, "escape"))
	img := filepath.Join(t.TempDir(), "oci")
	mk := exec.Command(env.mkimage, "-out", img, "-tag", "latest", "-cmd", `["sh"]`,
		"-layer-dir", filepath.Join(env.cache, "rootfs", "busybox"), "-layer-dir", layer)
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v %s", err, b)
	}
	s.ok("pull", "-q", "oci:"+img+":latest")
	vol := t.TempDir()
	s.ok("run", "--rm", "-v", vol+":/escape/vol", "-w", "/escape/work", "oci", "sh", "-c", "touch /escape/vol/f; pwd")
	if _, err := os.Lstat(outside); err == nil {
		t.Fatalf("a mount or workdir followed the image's symlink to the host: %s exists", outside)
	}
	if _, err := os.Stat(filepath.Join(vol, "f")); err != nil {
		t.Fatalf("volume not mounted inside: %v", err)
	}
}

func TestRunEntrypointTable(t *testing.T) {
	s := withImages(t, false)
	img := filepath.Join(t.TempDir(), "oci")
	mk := exec.Command(env.mkimage, "-out", img, "-tag", "ep", "-entrypoint", `["/bin/echo","ep"]`, "-cmd", `["c1","c2"]`,
		"-layer-dir", filepath.Join(env.cache, "rootfs", "busybox"))
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v %s", err, b)
	}
	s.ok("pull", "-q", "oci:"+img+":ep")
	for _, tt := range []struct {
		flags, args []string
		want        string
	}{
		{nil, nil, "ep c1 c2\n"},
		{nil, []string{"x", "y"}, "ep x y\n"},
		{[]string{"--entrypoint", "/bin/echo"}, nil, "\n"},
		{[]string{"--entrypoint", "/bin/echo"}, []string{"z"}, "z\n"},
		{[]string{"--entrypoint", ""}, []string{"echo", "plain"}, "plain\n"},
	} {
		args := append(append(append([]string{"run", "--rm"}, tt.flags...), "localhost/oci:ep"), tt.args...)
		if out := s.ok(args...); out != tt.want {
			t.Errorf("%v %v: got %q, want %q", tt.flags, tt.args, out, tt.want)
		}
	}
	s.fails(125, "no command specified", "run", "--rm", "--entrypoint", "", "localhost/oci:ep")
}

func TestRunTTY(t *testing.T) {
	s := withImages(t, false)
	c := s.cmd("run", "-it", "--rm", "busybox", "sh")
	ptmx, err := pty.StartWithSize(c, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	expect := ptyExpect(t, ptmx)
	fmt.Fprintf(ptmx, "echo result=$((6*7)); tty; stty size\r")
	expect(`^result=42`)
	expect(`^/dev/pts/\d+`)
	expect(`^24 80`)
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	// The resize travels as SIGWINCH to usandbox, then TIOCSWINSZ on the
	// sandbox's pty: ask until it has (a lost resize still fails).
	stop := make(chan struct{})
	go func() {
		for {
			fmt.Fprintf(ptmx, "stty size\r")
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	expect(`^50 132`)
	close(stop)
	fmt.Fprintf(ptmx, "exit 3\r")
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if code := exitCode(err); code != 3 {
			t.Fatalf("exit %d, want 3", code)
		}
	case <-time.After(15 * time.Second):
		c.Process.Kill()
		t.Fatal("usandbox did not exit after the shell did")
	}
	s.assertNoSandboxes()
}

func TestRunManyLeaveNothing(t *testing.T) {
	s := withImages(t, false)
	layersBefore := len(s.layers())
	for i := 0; i < 20; i++ {
		s.ok("run", "--rm", "busybox", "true")
	}
	s.assertNoSandboxes()
	if n := len(s.layers()); n != layersBefore {
		t.Fatalf("layers: %d before, %d after", layersBefore, n)
	}
	// A fresh user namespace sees the mounts of the host's mount
	// namespace: none of the sandboxes' may be there.
	out, err := exec.Command("unshare", "-Ur", "cat", "/proc/self/mountinfo").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), s.dir) {
		t.Fatalf("a sandbox mount outlived its sandbox:\n%s", out)
	}
	if ps := usandboxProcesses(); len(ps) > 0 {
		t.Fatalf("usandbox processes left: %v", ps)
	}
	s.assertClean()
}

func TestRunKilledIsCleanedUp(t *testing.T) {
	s := withImages(t, false)
	c := s.cmd("run", "--rm", "busybox", "sh", "-c", "echo ready >&2; exec sleep 1234")
	_, done := startUntil(t, c, "ready")
	c.Process.Kill()
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for sleepers() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := sleepers(); n > 0 {
		t.Fatalf("the sandbox outlived usandbox's SIGKILL (%d sleep 1234 left)", n)
	}
	if len(s.sandboxes()) != 1 {
		t.Fatalf("expected the killed sandbox's directory to remain until the next command, got %v", s.sandboxes())
	}
	// The next sandbox cleans it.
	s.ok("run", "--rm", "busybox", "sleep", "0.5")
	s.assertNoSandboxes()
}

// sleepers counts processes of ours (see ourProcesses) running "sleep 1234".
func sleepers() int {
	n := 0
	for _, pid := range ourProcesses() {
		if strings.Contains(cmdline(pid), "sleep\x001234") {
			n++
		}
	}
	return n
}

func TestRunBadInput(t *testing.T) {
	s := withImages(t, false)
	nulEnv := filepath.Join(t.TempDir(), "nul.env")
	if err := os.WriteFile(nulEnv, []byte("A=1\nB=x\x00y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown image", []string{"run", "--rm", "localhost/no-such-image", "true"}, "no-such-image"},
		{"bad flag", []string{"run", "--bogus", "busybox", "true"}, "bogus"},
		{"no image", []string{"run"}, "needs an image"},
		{"bad network", []string{"run", "--network", "bridge0:x", "busybox", "true"}, "unknown --network"},
		{"unknown network", []string{"run", "--network", "bridge0", "busybox", "true"}, "network not found"},
		{"bad volume", []string{"run", "-v", "/tmp:/x:bogus", "busybox", "true"}, `unknown option "bogus"`},
		{"missing volume source", []string{"run", "-v", "/no/such/dir:/x", "busybox", "true"}, "/no/such/dir"},
		{"bad capability", []string{"run", "--cap-add", "NOPE", "busybox", "true"}, "unknown capability"},
		{"bad security-opt", []string{"run", "--security-opt", "label=x", "busybox", "true"}, "unsupported --security-opt"},
		{"missing seccomp profile", []string{"run", "--security-opt", "seccomp=/no/such/profile.json", "busybox", "true"}, "seccomp"},
		{"bad user", []string{"run", "-u", "ghost", "busybox", "true"}, "unable to find user"},
		{"unmapped uid", []string{"run", "--rm", "-u", "200000", "busybox", "id"}, "200000 is not mapped"},
		{"name with a slash", []string{"run", "--name", "a/b", "busybox", "true"}, "invalid sandbox name"},
		{"name with a space", []string{"run", "--name", "a b", "busybox", "true"}, "invalid sandbox name"},
		{"name like a path", []string{"run", "--name", "../x", "busybox", "true"}, "invalid sandbox name"},
		{"name like a flag", []string{"run", "--name=-x", "busybox", "true"}, "invalid sandbox name"},
		{"relative workdir", []string{"run", "-w", "relative", "busybox", "true"}, "absolute path"},
		{"volume on /proc", []string{"run", "-v", "/tmp:/proc", "busybox", "true"}, "/proc"},
		{"volume on /", []string{"run", "-v", "/tmp:/", "busybox", "true"}, "root filesystem"},
		{"two mounts on one path", []string{"run", "-v", "/tmp:/x", "--tmpfs", "/x", "busybox", "true"}, "Duplicate mount point"},
		{"NUL in an env file", []string{"run", "--env-file", nulEnv, "busybox", "true"}, "NUL byte"},
		{"foreign -p address", []string{"run", "-p", "192.0.2.7:8080:80", "busybox", "true"}, "not an address of this machine"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.with(t).fails(125, tt.want, tt.args...)
		})
	}
	s.assertNoSandboxes()
	s.assertClean()
}

// ptyExpect reads the terminal ptmx's lines; expect(re) waits up to 15 s
// for one that matches re (a trailing CR aside).
func ptyExpect(t *testing.T, ptmx io.Reader) (expect func(re string)) {
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(ptmx)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return func(re string) {
		t.Helper()
		rx := regexp.MustCompile(re)
		timeout := time.After(15 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("terminal closed before %q", re)
				}
				if rx.MatchString(strings.TrimRight(l, "\r")) {
					return
				}
			case <-timeout:
				t.Fatalf("no line matching %q", re)
			}
		}
	}
}

// TestRunInitBinary: with usandbox-init next to usandbox, a sandbox's
// keeper, init and setup run from it (its trace marks say "init");
// usandbox alone, without it, starts sandboxes from itself.
func TestRunInitBinary(t *testing.T) {
	s := withImages(t, false)
	c := s.cmd("run", "--rm", "--network", "none", "busybox", "true")
	c.Env = append(c.Env, "USANDBOX_TRACE=1")
	r, err := capture(c)
	if err != nil || r.code != 0 {
		t.Fatalf("run: %v %+v", err, r)
	}
	if !strings.Contains(r.stderr, "trace init ") || !strings.Contains(r.stderr, "trace setup ") {
		t.Fatalf("the setup did not run from usandbox-init:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(env.bin), "usandbox-init")); err != nil {
		t.Fatalf("usandbox-init is not staged next to usandbox: %v", err)
	}

	// usandbox and usandbox-image alone in a directory.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"usandbox", "usandbox-image"} {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(env.bin), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c = exec.Command(filepath.Join(dir, "usandbox"), "--root", s.root, "--runroot", s.runroot, "run", "--rm", "--network", "none", "busybox", "echo", "alone")
	c.Env = append(os.Environ(), "USANDBOX_TRACE=1")
	r, err = capture(c)
	if err != nil || r.code != 0 || r.stdout != "alone\n" {
		t.Fatalf("usandbox without usandbox-init: %v %+v", err, r)
	}
	if strings.Contains(r.stderr, "trace init ") || !strings.Contains(r.stderr, "trace setup ") {
		t.Fatalf("without usandbox-init the setup should be usandbox's own:\n%s", r.stderr)
	}
	s.assertNoSandboxes()
}
