//go:build integration

package integration

import (
	"strings"
	"testing"
)

// The outputs and exit codes below are rootless podman 4.3's on the same
// command lines (podman --runtime runc, busybox loaded with podman load).

// TestCreateStart: create prints the full ID; start -a runs the command
// attached and exits with its status; start prints the reference given.
func TestCreateStart(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("create", "--name", "c1", "-e", "X=from-create", "busybox", "sh", "-c", `echo hi $X`))
	if !hexID.MatchString(id) {
		t.Fatalf("create printed %q, want the sandbox ID", id)
	}
	if st := s.inspect("c1").State; st.Running || st.Status != "created" {
		t.Fatalf("after create: %+v", st)
	}
	if out := s.ok("start", "-a", "c1"); out != "hi from-create\n" {
		t.Fatalf("start -a: %q", out)
	}
	s.ok("create", "--name", "c2", "busybox", "sh", "-c", "exit 3")
	if r := s.run("start", "-a", "c2"); r.code != 3 || r.stdout != "" {
		t.Fatalf("start -a of exit 3: %d %q %q", r.code, r.stdout, r.stderr)
	}
	s.fails(125, "nosuch", "start", "-a", "nosuch")
	s.ok("create", "--name", "d", "busybox", "sleep", "100")
	if out := s.ok("start", "d"); out != "d\n" {
		t.Fatalf("start: %q", out)
	}
	waitFor(t, "the created sandbox to run", func() bool { return s.inspect("d").State.Running })
	s.fails(125, "create needs an image", "create")
}

// TestRestartAttach: restart stops (SIGTERM, -t) and starts again and
// prints the reference; attach follows a detached sandbox's output
// until it exits (podman 4.3 exits 0 then, whatever the command's
// status).
func TestRestartAttach(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "r1", "busybox", "sh", "-c", "echo started; trap 'exit 7' TERM; while :; do sleep 0.1; done")
	waitFor(t, "r1 to start", func() bool { return strings.Contains(s.ok("logs", "r1"), "started") })
	pid := s.inspect("r1").State.Pid
	if out := s.ok("restart", "-t", "1", "r1"); out != "r1\n" {
		t.Fatalf("restart: %q", out)
	}
	in := s.inspect("r1")
	if !in.State.Running || in.State.Pid == pid {
		t.Fatalf("after restart: %+v (pid before %d)", in.State, pid)
	}
	waitFor(t, "r1 to start again", func() bool { return strings.Count(s.ok("logs", "r1"), "started") == 2 })
	s.fails(125, "nosuch", "restart", "nosuch")

	s.ok("run", "-d", "--name", "r2", "busybox", "sh", "-c", "sleep 1; echo late; exit 4")
	if r := s.run("attach", "r2"); r.code != 0 || r.stdout != "late\n" {
		t.Fatalf("attach: %d %q %q", r.code, r.stdout, r.stderr)
	}
	s.fails(125, "nosuch", "attach", "nosuch")
	if out := s.ok("attach", "--help"); !strings.Contains(out, "no stdin") {
		t.Fatalf("attach --help does not say that a detached sandbox has no stdin:\n%s", out)
	}
}

// TestContainerImageGroups: podman's container and image groups and
// aliases; exists exits 0 or 1 without output.
func TestContainerImageGroups(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("container", "create", "--name", "g", "busybox", "sleep", "100"))
	for _, ls := range [][]string{{"container", "ls", "-a", "-q"}, {"container", "list", "-a", "-q"}, {"container", "ps", "-a", "-q"}} {
		if out := s.ok(ls...); out != id[:12]+"\n" {
			t.Fatalf("%v: %q", ls, out)
		}
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"container", "exists", "g"}, 0},
		{[]string{"container", "exists", id[:8]}, 0},
		{[]string{"container", "exists", "nosuch"}, 1},
		{[]string{"image", "exists", "busybox"}, 0},
		{[]string{"image", "exists", "nosuch"}, 1},
	} {
		if r := s.run(c.args...); r.code != c.code || r.stdout != "" || r.stderr != "" {
			t.Fatalf("%v: exit %d (want %d) %q %q", c.args, r.code, c.code, r.stdout, r.stderr)
		}
	}
	s.ok("container", "start", "g")
	waitFor(t, "g to run", func() bool { return s.inspect("g").State.Running })
	if out := s.ok("container", "exec", "g", "echo", "in"); out != "in\n" {
		t.Fatalf("container exec: %q", out)
	}
	if !strings.Contains(s.ok("container", "inspect", "g"), id) {
		t.Fatal("container inspect does not show the ID")
	}
	s.ok("container", "stop", "-t", "0", "g")
	if out := s.ok("container", "wait", "g"); out != "137\n" {
		t.Fatalf("container wait: %q", out)
	}
	if out := s.ok("container", "rm", "g"); out != "g\n" {
		t.Fatalf("container rm: %q", out)
	}
	if out := s.ok("container", "run", "--rm", "busybox", "echo", "ran"); out != "ran\n" {
		t.Fatalf("container run: %q", out)
	}

	if ls, images := s.ok("image", "ls"), s.ok("images"); ls != images || !strings.Contains(ls, "busybox") {
		t.Fatalf("image ls:\n%s\nimages:\n%s", ls, images)
	}
	if !strings.Contains(s.ok("image", "list", "-q"), s.ok("images", "-q")) {
		t.Fatal("image list -q differs from images -q")
	}
	if !strings.Contains(s.ok("image", "inspect", "busybox"), `"Id"`) {
		t.Fatal("image inspect shows no Id")
	}
	s.fails(125, "nosuch", "image", "inspect", "nosuch")
	s.ok("image", "pull", "-q", ociRef("debian", "bookworm"))
	s.ok("image", "rm", "localhost/debian:bookworm")
	if r := s.run("image", "exists", "localhost/debian:bookworm"); r.code != 1 {
		t.Fatalf("image rm left the image: exit %d", r.code)
	}
}

// TestAllIgnoreFilterPrune: --all on stop, kill, rm and start (start's -a
// is --attach, as podman's), rm --ignore and -t, ps --noheading and
// --filter, container prune.
func TestAllIgnoreFilterPrune(t *testing.T) {
	s := withImages(t, false)
	c1 := strings.TrimSpace(s.ok("create", "--name", "c1", "busybox", "true"))
	c2 := strings.TrimSpace(s.ok("create", "--name", "c2", "busybox", "sh", "-c", "exit 3"))
	s.ok("start", "-a", "c1")
	s.run("start", "-a", "c2")
	r1 := strings.TrimSpace(s.ok("run", "-d", "--name", "r1", "busybox", "sleep", "100"))

	if out := s.ok("ps", "--noheading", "-a", "--no-trunc"); strings.Contains(out, "SANDBOX ID") || strings.Count(out, "\n") != 3 {
		t.Fatalf("ps --noheading:\n%s", out)
	}
	for _, c := range []struct {
		filter []string
		want   string
	}{
		{[]string{"status=exited"}, c2[:12] + "\n" + c1[:12] + "\n"},
		{[]string{"status=running"}, r1[:12] + "\n"},
		{[]string{"name=c"}, c2[:12] + "\n" + c1[:12] + "\n"},
		{[]string{"name=^r"}, r1[:12] + "\n"},
		{[]string{"exited=3"}, c2[:12] + "\n"},
		{[]string{"id=" + c1[:5]}, c1[:12] + "\n"},
		{[]string{"ancestor=busybox", "name=1"}, r1[:12] + "\n" + c1[:12] + "\n"},
		{[]string{"name=c1", "name=r1"}, r1[:12] + "\n" + c1[:12] + "\n"},
	} {
		args := []string{"ps", "-a", "-q"}
		for _, f := range c.filter {
			args = append(args, "--filter", f)
		}
		if out := s.ok(args...); out != c.want {
			t.Errorf("ps --filter %v: %q, want %q", c.filter, out, c.want)
		}
	}
	// A status filter looks at every sandbox, with or without -a, as
	// podman's; the others only at the running ones without -a.
	if out := s.ok("ps", "-q", "--filter", "status=exited"); out != c2[:12]+"\n"+c1[:12]+"\n" {
		t.Errorf("ps --filter status=exited without -a: %q", out)
	}
	if out := s.ok("ps", "-q", "--filter", "name=c"); out != "" {
		t.Errorf("ps --filter name=c without -a: %q", out)
	}
	s.fails(125, "no arguments are needed with --all", "stop", "-a", "r1")
	s.fails(125, "status", "ps", "--filter", "status=bogus")
	s.fails(125, "bogus", "ps", "--filter", "bogus=1")

	if r := s.run("rm", "--ignore", "nosuch"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("rm --ignore: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if out := s.ok("stop", "--all", "-t", "1"); out != r1+"\n" {
		t.Fatalf("stop --all: %q", out)
	}
	if out := s.ok("start", "--all"); strings.Count(out, "\n") != 3 {
		t.Fatalf("start --all: %q", out)
	}
	waitFor(t, "r1 to run", func() bool { return s.inspect("r1").State.Running })
	s.ok("kill", "-a")
	if s.inspect("r1").State.Running {
		t.Fatal("kill -a left r1 running")
	}

	// prune asks, as podman does; -f does not.
	r := s.run("container", "prune")
	if r.code != 125 || !strings.Contains(r.stdout, "Are you sure you want to continue? [y/N]") {
		t.Fatalf("container prune without -f: %d %q %q", r.code, r.stdout, r.stderr)
	}
	s.ok("run", "-d", "--name", "keep", "busybox", "sleep", "100")
	out := s.ok("container", "prune", "-f")
	for _, id := range []string{c1, c2, r1} {
		if !strings.Contains(out, id+"\n") {
			t.Fatalf("container prune -f: %q lacks %s", out, id)
		}
	}
	if strings.Count(out, "\n") != 3 {
		t.Fatalf("container prune -f: %q", out)
	}
	if out := s.ok("rm", "-f", "-t", "0", "keep"); out != "keep\n" {
		t.Fatalf("rm -f -t 0: %q", out)
	}
	s.ok("create", "--name", "x", "busybox", "true")
	if out := s.ok("rm", "-a"); !hexID.MatchString(strings.TrimSpace(out)) {
		t.Fatalf("rm -a: %q", out)
	}
	if out := s.ok("ps", "-a", "-q"); out != "" {
		t.Fatalf("after rm -a: %q", out)
	}
}
