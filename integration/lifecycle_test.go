//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type inspectJSON struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State struct {
		Status    string
		Running   bool
		Pid       int
		ExitCode  int
		OOMKilled bool
	} `json:"State"`
	Image     string `json:"Image"`
	ImageName string `json:"ImageName"`
	Mounts    []struct {
		Type, Source, Destination string
		RW                        bool
	} `json:"Mounts"`
	Config struct {
		Cmd []string
	} `json:"Config"`
}

func (s *store) inspect(ref string) inspectJSON {
	s.t.Helper()
	var out []inspectJSON
	if err := json.Unmarshal([]byte(s.ok("inspect", ref)), &out); err != nil || len(out) != 1 {
		s.t.Fatalf("inspect %s: %v %v", ref, out, err)
	}
	return out[0]
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForUpTo(t, 10*time.Second, what, cond)
}

// waitForUpTo polls cond for up to d.
func waitForUpTo(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDetachedLifecycle(t *testing.T) {
	s := withImages(t, false)
	vol := t.TempDir()
	os.Chmod(vol, 0o777)
	// The calling shell exits at once: the sandbox must live on.
	out, err := exec.Command("bash", "-c", `exec "$@"`, "bash", env.bin, "--root", s.root, "--runroot", s.runroot,
		"run", "-d", "--name", "web", "-v", vol+":/data", "busybox", "sh", "-c",
		`trap 'echo got TERM; exit 3' TERM; echo hello; echo oops >&2; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(out))
	if !hexID.MatchString(id) {
		t.Fatalf("run -d printed %q, want the sandbox ID", id)
	}
	ps := s.ok("ps")
	if !regexp.MustCompile(`(?m)^` + id[:12] + `\s+busybox\s+"sh -c trap 'echo go…"\s+.+ ago\s+Up .+\s+web$`).MatchString(ps) {
		t.Fatalf("ps:\n%s", ps)
	}
	if q := strings.TrimSpace(s.ok("ps", "-q")); q != id[:12] {
		t.Fatalf("ps -q: %q", q)
	}
	in := s.inspect("web")
	if in.ID != id || !in.State.Running || in.State.Pid <= 0 || in.State.Status != "running" || in.ImageName != "busybox" ||
		len(in.Mounts) != 1 || in.Mounts[0].Source != vol {
		t.Fatalf("inspect: %+v", in)
	}
	waitFor(t, "output in the log", func() bool { return strings.Contains(s.ok("logs", "web"), "tick 3") })
	r := s.run("logs", "web")
	if !strings.HasPrefix(r.stdout, "hello\ntick 1\n") || r.stderr != "oops\n" {
		t.Fatalf("logs: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if tail := s.ok("logs", "--tail", "1", id[:6]); !regexp.MustCompile(`^tick \d+\n$`).MatchString(tail) {
		t.Fatalf("logs --tail 1: %q", tail)
	}
	if ts := s.ok("logs", "-t", "--tail", "1", "web"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+\n$`).MatchString(ts) {
		t.Fatalf("logs -t: %q", ts)
	}

	// exec: every namespace, the same exit-code rules.
	if out := s.ok("exec", "web", "sh", "-c", "hostname; cat /proc/1/comm; echo made > /data/by-exec; touch /kept"); out != id[:12]+"\nusandbox-init\n" {
		t.Fatalf("exec: %q", out)
	}
	if r := s.run("exec", "web", "sh", "-c", "exit 5"); r.code != 5 {
		t.Fatalf("exec exit code %d", r.code)
	}
	s.fails(127, "executable file not found", "exec", "web", "nosuch")
	if out := s.ok("exec", "-u", "1000", "-w", "/tmp", "-e", "X=1", "web", "sh", "-c", "id -u; pwd; echo $X"); out != "1000\n/tmp\n1\n" {
		t.Fatalf("exec -u -w -e: %q", out)
	}

	// stop: SIGTERM reaches the command's handler.
	s.ok("stop", "-t", "5", "web")
	in = s.inspect("web")
	if in.State.Running || in.State.Status != "exited" || in.State.ExitCode != 3 {
		t.Fatalf("after stop: %+v", in.State)
	}
	if !strings.Contains(s.ok("logs", "web"), "got TERM") {
		t.Fatal("the command did not see SIGTERM")
	}
	if !regexp.MustCompile(`(?m)^` + id[:12] + `.*Exited \(3\) .* ago\s+web$`).MatchString(s.ok("ps", "-a")) {
		t.Fatalf("ps -a:\n%s", s.ok("ps", "-a"))
	}
	if s.ok("ps") != "SANDBOX ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES\n" {
		t.Fatalf("ps shows a stopped sandbox:\n%s", s.ok("ps"))
	}
	if w := s.ok("wait", "web"); w != "3\n" {
		t.Fatalf("wait: %q", w)
	}
	s.fails(255, "not running", "exec", "web", "true") // podman 4.3: 255
	s.fails(125, "not running", "stop", "web")

	// start: the same sandbox, its upper layer kept.
	s.ok("start", "web")
	waitFor(t, "the restart", func() bool { return s.inspect("web").State.Running })
	s.ok("exec", "web", "test", "-e", "/kept")
	// podman 4.3's status for rm of a running one: 2.
	s.fails(2, "stop it first, or use rm -f", "rm", "web")
	s.ok("kill", "-s", "USR1", "web") // no handler: sh dies of it
	waitFor(t, "SIGUSR1 to end it", func() bool { return !s.inspect("web").State.Running })
	if c := s.inspect("web").State.ExitCode; c != 128+int(syscall.SIGUSR1) {
		t.Fatalf("exit after SIGUSR1: %d", c)
	}
	s.ok("start", "web")
	waitFor(t, "the restart", func() bool { return s.inspect("web").State.Running })
	s.ok("kill", "web")
	if in := s.inspect("web"); in.State.Running || in.State.ExitCode != 137 {
		t.Fatalf("after kill: %+v", in.State)
	}
	s.ok("rm", "web")
	if s.ok("ps", "-a", "-q") != "" {
		t.Fatal("rm left the sandbox listed")
	}
	s.assertNoSandboxes()
	if b, err := os.ReadFile(filepath.Join(vol, "by-exec")); err != nil || string(b) != "made\n" {
		t.Fatalf("exec's write to the volume: %q %v", b, err)
	}
}

func TestRunDetachedRmAndLogsFollow(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.2; done; exit 4"))
	start := time.Now()
	out := s.ok("logs", "-f", id)
	if out != "line 1\nline 2\nline 3\n" {
		t.Fatalf("logs -f: %q", out)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("logs -f returned before the sandbox ended")
	}
	if w := s.ok("wait", id); w != "4\n" {
		t.Fatalf("wait: %q", w)
	}
	s.ok("rm", id)
	// --rm with -d removes itself.
	id = strings.TrimSpace(s.ok("run", "-d", "--rm", "busybox", "sleep", "0.3"))
	waitFor(t, "the --rm sandbox to go", func() bool { return len(s.sandboxes()) == 0 })
	s.fails(125, "no such object", "inspect", id)
}

func TestLifecycleFaults(t *testing.T) {
	s := withImages(t, false)
	// SIGKILL of the monitor: the sandbox must not run on unwatched.
	id := strings.TrimSpace(s.ok("run", "-d", "busybox", "sleep", "1234"))
	init := s.inspect(id).State.Pid
	mon := parentOf(t, init)
	if mon <= 1 {
		t.Fatalf("no monitor above the init (%d)", init)
	}
	syscall.Kill(mon, syscall.SIGKILL)
	waitFor(t, "the sandbox to end with its monitor", func() bool { return !s.inspect(id).State.Running })
	waitFor(t, "no sleep left", func() bool { return sleepers() == 0 })
	if ps := s.ok("ps", "-a"); !strings.Contains(ps, "Exited (137)") {
		t.Fatalf("ps -a after the monitor's death:\n%s", ps)
	}
	s.ok("rm", id)

	// SIGKILL of the sandbox's init.
	id = strings.TrimSpace(s.ok("run", "-d", "busybox", "sleep", "1234"))
	syscall.Kill(s.inspect(id).State.Pid, syscall.SIGKILL)
	waitFor(t, "the sandbox to end with its init", func() bool { return !s.inspect(id).State.Running })
	waitFor(t, "no sleep left", func() bool { return sleepers() == 0 })
	if st := s.inspect(id).State; st.ExitCode != 137 {
		t.Fatalf("after killing the init: %+v", st)
	}
	s.ok("rm", id)
	s.assertNoSandboxes()
}

func parentOf(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func TestLifecycleBadInput(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "taken", "busybox", "sleep", "60")
	s.ok("run", "--name", "done", "busybox", "true")
	// Find a one-character ID prefix two sandboxes share, making more
	// (stopped) sandboxes until one exists.
	var ambiguous string
	for ambiguous == "" {
		seen := map[byte]bool{}
		for _, id := range strings.Fields(s.ok("ps", "-a", "-q", "--no-trunc")) {
			if seen[id[0]] {
				ambiguous = id[:1]
			}
			seen[id[0]] = true
		}
		if ambiguous == "" {
			s.ok("run", "busybox", "true")
		}
	}
	before := s.ok("ps", "-a", "--no-trunc", "-q")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "nosuch"}, `no such object: "nosuch"`},
		{[]string{"stop", "nosuch"}, "no such sandbox"},
		{[]string{"logs", ambiguous}, "ambiguous"},
		{[]string{"stop", "done"}, "not running"},
		{[]string{"kill", "done"}, "not running"},
		{[]string{"run", "-d", "--name", "taken", "busybox", "true"}, "name already in use"},
		{[]string{"start", "taken"}, "running"},
		{[]string{"kill", "-s", "NOPE", "taken"}, "unknown signal"},
		{[]string{"logs", "--tail", "x", "taken"}, "--tail"},
		{[]string{"ps", "--format", "{{.Nope"}, "unclosed action"},
		{[]string{"exec", "taken"}, "needs a sandbox and a command"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			s.fails(125, tt.want, tt.args...)
		})
	}
	s.fails(2, "stop it first", "rm", "taken")          // podman 4.3: 2
	s.fails(255, "not running", "exec", "done", "true") // podman 4.3: 255
	if after := s.ok("ps", "-a", "--no-trunc", "-q"); after != before {
		t.Fatalf("bad input changed the sandboxes:\n%s\nvs\n%s", before, after)
	}
	if !s.inspect("taken").State.Running {
		t.Fatal("bad input stopped a sandbox")
	}
	s.ok("rm", "-f", "taken")
}

func TestThirtyDetachedInParallel(t *testing.T) {
	s := withImages(t, false)
	const n = 30
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.tryRun("run", "-d", "--name", fmt.Sprintf("p%02d", i), "busybox", "sleep", "1234")
			if err != nil {
				errs <- err.Error()
				return
			}
			if r.code != 0 {
				errs <- fmt.Sprintf("run -d %d: exit %d %s", i, r.code, r.stderr)
				return
			}
			ids[i] = strings.TrimSpace(r.stdout)
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
	if got := strings.Count(s.ok("ps", "-q"), "\n"); got != n {
		t.Fatalf("ps lists %d running sandboxes, want %d", got, n)
	}
	if sleepers() != n {
		t.Fatalf("%d sleep processes, want %d", sleepers(), n)
	}
	// Stop and remove them, in parallel too.
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, args := range [][]string{{"stop", "-t", "0", ids[i]}, {"rm", ids[i]}} {
				r, err := s.tryRun(args...)
				if err != nil {
					t.Errorf("%d: %v", i, err)
					return
				}
				if r.code != 0 {
					t.Errorf("%s %d: exit %d %s", args[0], i, r.code, r.stderr)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every sleep to end", func() bool { return sleepers() == 0 })
	if ps := usandboxProcesses(); len(ps) > 0 {
		t.Fatalf("usandbox processes left: %v", ps)
	}
	s.assertNoSandboxes()
	out, err := exec.Command("unshare", "-Ur", "cat", "/proc/self/mountinfo").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), s.dir) {
		t.Fatalf("mounts left:\n%s", out)
	}
	if locks, _ := os.ReadDir(filepath.Join(s.runroot, "locks")); len(locks) > 0 {
		t.Fatalf("lock files left: %d", len(locks))
	}
	s.assertClean()
}

// TestCreateRmThenStart: a sandbox made by create --rm stays until it is
// started (ps -a lists it; another command does not reclaim it as an
// --rm leftover), and goes once its command ends, as podman's does.
func TestCreateRmThenStart(t *testing.T) {
	s := withImages(t, false)
	s.ok("create", "--rm", "--name", "later", "busybox", "echo", "ran")
	s.ok("run", "--rm", "busybox", "true") // reclaims stale --rm sandboxes
	if ps := s.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(ps, "later Created") {
		t.Fatalf("create --rm: ps -a shows %q", ps)
	}
	if out := s.ok("start", "-a", "later"); out != "ran\n" {
		t.Fatalf("start -a: %q", out)
	}
	eventually(t, "the --rm sandbox removed", func() bool { return s.run("container", "exists", "later").code == 1 })
	s.assertNoSandboxes()
}
