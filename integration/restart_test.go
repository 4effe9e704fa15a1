//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"
)

// runs counts the "run" lines in the sandbox's log: one per time its
// command ran.
func (s *store) runs(ref string) int {
	s.t.Helper()
	return strings.Count(s.ok("logs", ref), "run\n")
}

// eventually polls cond for up to a generous deadline (this host is slow
// and shared); it is no timing assertion, only a bound on a hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 30 s", what)
}

// TestRestartOnFailure: on-failure:N runs a failing command 1+N times,
// with no daemon (the sandbox's own watcher starts it again), then it
// stays exited with the command's status; a command that succeeds is not
// restarted.
func TestRestartOnFailure(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3"))
	eventually(t, "three runs", func() bool { return s.runs(id) == 3 })
	eventually(t, "exited", func() bool { return strings.Contains(s.ok("ps", "-a"), "Exited (3)") })
	if n := s.runs(id); n != 3 {
		t.Fatalf("on-failure:2 ran the command %d times, want 3", n)
	}
	if code := strings.TrimSpace(s.ok("wait", id)); code != "3" {
		t.Fatalf("wait: %s, want 3", code)
	}
	ok := strings.TrimSpace(s.ok("run", "-d", "--restart", "on-failure", "busybox", "sh", "-c", "echo run"))
	s.ok("wait", ok)
	time.Sleep(time.Second) // a restart would come within 100 ms
	if n := s.runs(ok); n != 1 {
		t.Fatalf("on-failure restarted a command that exited 0: %d runs", n)
	}
	// Attached: the run returns the first status (podman's), the
	// restarts go on in the background.
	if r := s.run("run", "--name", "fg", "--restart", "on-failure:1", "busybox", "sh", "-c", "echo run; exit 4"); r.code != 4 {
		t.Fatalf("attached run: exit %d, want 4 (%s)", r.code, r.stderr)
	}
	eventually(t, "the attached sandbox's restart", func() bool { return s.runs("fg") == 2 })
}

// TestRestartAlwaysStop: always and unless-stopped restart a command that
// ends, until the user stops or kills the sandbox; then it stays stopped.
func TestRestartAlwaysStop(t *testing.T) {
	s := withImages(t, false)
	for _, c := range []struct{ policy, how string }{{"always", "stop"}, {"unless-stopped", "kill"}} {
		name := "r-" + c.policy
		s.ok("run", "-d", "--name", name, "--restart", c.policy, "busybox", "sh", "-c", "echo run; sleep 0.3")
		eventually(t, c.policy+": two runs", func() bool { return s.runs(name) >= 2 })
		args := []string{c.how, name}
		if c.how == "stop" {
			args = []string{"stop", "-t", "0", name}
		}
		if r := s.run(args...); r.code != 0 && !strings.Contains(r.stderr, "not running") {
			t.Fatalf("%s: exit %d %s", strings.Join(args, " "), r.code, r.stderr)
		}
		s.ok("wait", name)
		n := s.runs(name)
		time.Sleep(2 * time.Second) // past any backoff of a first few restarts
		if m := s.runs(name); m != n || strings.Contains(s.ok("ps"), name) {
			t.Fatalf("%s after %s: ran again (%d → %d runs)", c.policy, c.how, n, m)
		}
		// A start by the user restarts the policy too.
		s.ok("start", name)
		eventually(t, c.policy+": runs after start", func() bool { return s.runs(name) >= n+2 })
		s.ok("rm", "-f", name)
	}
	s.assertNoSandboxes()
}

// TestRestartBadInput: podman's refusals, and nothing left behind.
func TestRestartBadInput(t *testing.T) {
	s := withImages(t, false)
	s.fails(125, `the --rm option conflicts with --restart, when the restartPolicy is not "" and "no"`, "run", "--rm", "--restart", "always", "busybox", "true")
	s.fails(125, "invalid --restart", "run", "--restart", "sometimes", "busybox", "true")
	s.fails(125, "invalid --restart", "run", "--restart", "on-failure:x", "busybox", "true")
	s.fails(125, "invalid --restart", "run", "--restart", "always:3", "busybox", "true")
	s.assertNoSandboxes()
	if out := s.ok("run", "--rm", "--restart", "no", "busybox", "echo", "no restart"); out != "no restart\n" {
		t.Fatalf("--rm --restart no: %q", out)
	}
}

// TestRestartPublished: a sandbox with -p (watched by the Go monitor,
// whose port driver holds the host port) restarts on the same port: the
// old listener is closed first.
func TestRestartPublished(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("run", "-d", "--restart", "on-failure:1", "-p", "80", "busybox", "sh", "-c", "echo run; sleep 0.3; exit 2"))
	eventually(t, "two runs", func() bool { return s.runs(id) == 2 })
	eventually(t, "exited", func() bool { return strings.Contains(s.ok("ps", "-a"), "Exited (2)") })
}
