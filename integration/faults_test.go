//go:build integration

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunDetachedInstantExit: a command that exits at once must be seen
// to exit (its exit was lost before the init's loop started: it stayed Up,
// wait hung).
func TestRunDetachedInstantExit(t *testing.T) {
	s := withImages(t, false)
	for i := 0; i < 8; i++ {
		id := strings.TrimSpace(s.ok("run", "-d", "busybox", "true"))
		if w := s.waitWithin(t, 10*time.Second, id); w != "0\n" {
			t.Fatalf("run %d: wait printed %q", i, w)
		}
		if st := s.inspect(id).State; st.Running || st.ExitCode != 0 {
			t.Fatalf("run %d: %+v", i, st)
		}
		s.ok("rm", id)
	}
	id := strings.TrimSpace(s.ok("run", "-d", "busybox", "sh", "-c", "exit 7"))
	if w := s.waitWithin(t, 10*time.Second, id); w != "7\n" {
		t.Fatalf("exit 7: wait printed %q", w)
	}
	s.ok("rm", id)
	s.assertNoSandboxes()
}

// waitWithin runs usandbox wait ID, failing the test if it does not
// return within d.
func (s *store) waitWithin(t *testing.T, d time.Duration, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := s.cmd("wait", id)
	c = exec.CommandContext(ctx, c.Path, c.Args[1:]...)
	out, err := c.Output()
	if ctx.Err() != nil {
		t.Fatalf("usandbox wait %s did not return within %v (the sandbox stays up)", id[:12], d)
	}
	if err != nil {
		t.Fatalf("usandbox wait %s: %v", id[:12], err)
	}
	return string(out)
}

// TestStartFailureKeepsSandbox: a start that fails (its volume's directory
// is gone) says so in one line and leaves the stopped sandbox as it was,
// writable layer included (it used to delete both).
func TestStartFailureKeepsSandbox(t *testing.T) {
	s := withImages(t, false)
	vol := filepath.Join(t.TempDir(), "vol")
	os.Mkdir(vol, 0o777)
	id := strings.TrimSpace(s.ok("run", "-d", "-v", vol+":/v", "busybox", "sh", "-c", "echo kept > /kept; exit 3"))
	if w := s.waitWithin(t, 10*time.Second, id); w != "3\n" {
		t.Fatalf("wait: %q", w)
	}
	os.RemoveAll(vol)
	s.fails(125, "volume", "start", id)
	st := s.inspect(id).State
	if st.Running || st.ExitCode != 3 {
		t.Fatalf("after the failed start: %+v", st)
	}
	// The upper layer survived: the file written by the first run is there.
	if b, err := os.ReadFile(filepath.Join(s.root, "sandboxes", id, "upper", "kept")); err != nil || string(b) != "kept\n" {
		t.Fatalf("the writable layer after the failed start: %q %v", b, err)
	}
	os.Mkdir(vol, 0o777)
	s.ok("start", id)
	if w := s.waitWithin(t, 10*time.Second, id); w != "3\n" {
		t.Fatalf("wait after the second start: %q", w)
	}
	s.ok("rm", id)
}

// TestExecNestedUserNamespace: exec joins the sandbox's own namespaces,
// not those of whatever process it finds (a command that entered a nested
// user namespace locked exec out).
func TestExecNestedUserNamespace(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("run", "-d", "--network", "none", "--security-opt", "seccomp=unconfined",
		"busybox", "unshare", "-U", "-r", "sleep", "1000"))
	want := s.ok("run", "--rm", "--network", "none", "busybox", "cat", "/proc/self/uid_map")
	waitFor(t, "the nested namespace", func() bool {
		return s.run("exec", id, "sh", "-c", "test \"$(readlink /proc/2/ns/user)\" != \"$(readlink /proc/self/ns/user)\"").code == 0
	})
	if got := s.ok("exec", id, "cat", "/proc/self/uid_map"); got != want {
		t.Fatalf("exec's uid_map:\n%s\nwant the sandbox's:\n%s", got, want)
	}
	s.ok("rm", "-f", id)
	s.assertNoSandboxes()
}

// TestFlagValuesWithCommas: a repeated flag's value is taken whole (the
// flag library split -e 'LIST=a,b,SECRET' and imported the host's SECRET).
func TestFlagValuesWithCommas(t *testing.T) {
	s := withImages(t, false)
	c := s.cmd("run", "--rm", "-e", "LIST=a,b,SECRET", "--tmpfs", "/x:size=1m,mode=1777", "busybox", "sh", "-c",
		`echo "$LIST"; echo "secret=${SECRET:-unset}"; stat -c %a /x; df -k /x | awk 'NR==2 { print $2 }'`)
	c.Env = append(os.Environ(), "SECRET=host-secret")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if string(out) != "a,b,SECRET\nsecret=unset\n1777\n1024\n" {
		t.Fatalf("got %q", out)
	}
}

// TestRmiImageInUse: rmi refuses an image that sandboxes use, running or
// stopped (exit 2, naming them: the check was a stub that let the layers
// go from under them); rmi -f removes those sandboxes first, as podman
// does, and never leaves a sandbox whose layers are gone.
func TestRmiImageInUse(t *testing.T) {
	s := withImages(t, false)
	run := strings.TrimSpace(s.ok("run", "-d", "--name", "user-running", "busybox", "sleep", "1000"))
	s.ok("run", "--name", "user-stopped", "busybox", "true")
	r := s.fails(2, "in use", "rmi", "busybox")
	for _, name := range []string{"user-running", "user-stopped"} {
		if !strings.Contains(r.stderr, name) {
			t.Errorf("rmi does not name %s: %q", name, r.stderr)
		}
	}
	if len(s.images()) != 1 || !s.inspect(run).State.Running {
		t.Fatal("a refused rmi changed something")
	}
	s.ok("rmi", "-f", "busybox")
	if out := s.ok("ps", "-a", "-q"); out != "" {
		t.Fatalf("rmi -f left sandboxes: %q", out)
	}
	if len(s.images()) != 0 {
		t.Fatal("rmi -f kept the image")
	}
	s.assertNoSandboxes()
	s.assertClean()
}
