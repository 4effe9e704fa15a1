//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The outputs and exit codes below are rootless podman 4.3.1's on the
// same command lines (runc, busybox loaded with podman load), checked by
// hand on this host.

// TestCmdsRename: podman's rename: no output, exit 0, a running sandbox
// may be renamed (its hostname stays, as podman's); a name in use, an
// unknown sandbox or a bad name: one error line, exit 125, nothing
// changed.
func TestCmdsRename(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("run", "-d", "--name", "ra", "busybox", "sleep", "100"))
	s.ok("create", "--name", "rb", "busybox", "true")
	s.fails(125, `"rb"`, "rename", "ra", "rb")
	s.fails(125, "nosuch", "rename", "nosuch", "rx")
	s.fails(125, "bad name", "rename", "ra", "bad name")
	s.fails(125, "rename takes", "rename", "ra")
	if out := s.ok("ps", "-a", "--format", "json"); !strings.Contains(out, `"ra"`) || !strings.Contains(out, `"rb"`) {
		t.Fatalf("a failed rename changed names:\n%s", out)
	}
	if r := s.run("rename", "ra", "ra2"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("rename: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if in := s.inspect("ra2"); in.ID != id || !in.State.Running {
		t.Fatalf("after rename: %+v", in)
	}
	if out := s.ok("exec", "ra2", "hostname"); out != id[:12]+"\n" {
		t.Fatalf("hostname after rename: %q", out)
	}
	s.fails(125, "ra", "inspect", "ra")
	// The old name is free again.
	s.ok("create", "--name", "ra", "busybox", "true")
}

// TestCmdsTop: podman's default columns; descriptors choose columns; only
// the sandbox's own processes (an exec'd one too), not usandbox's init.
func TestCmdsTop(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "t", "busybox", "sleep", "100")
	s.ok("create", "--name", "tc", "busybox", "true")
	out := s.ok("top", "t")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "USER PID PPID %CPU ELAPSED TTY TIME COMMAND" {
		t.Fatalf("top header: %q", lines[0])
	}
	if len(lines) != 2 {
		t.Fatalf("top shows %d processes, want the one:\n%s", len(lines)-1, out)
	}
	if f := strings.Fields(lines[1]); len(f) != 9 || f[0] != "root" || f[5] != "?" || f[7] != "sleep" || f[8] != "100" {
		t.Fatalf("top row: %q", lines[1])
	}
	out = s.ok("top", "t", "pid", "user", "args")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "PID USER COMMAND" || len(lines) != 2 {
		t.Fatalf("top pid user args:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 4 || f[1] != "root" || f[2] != "sleep" {
		t.Fatalf("top pid user args row: %q", lines[1])
	}
	s.fails(125, "nosuch", "top", "nosuch")
	s.fails(125, "running", "top", "tc")
	s.fails(125, "bogus", "top", "t", "bogus")
}

// TestCmdsDiff: podman's diff of the upper layer: A added, C changed
// (a directory with changes inside), D deleted (a whiteout), sorted.
func TestCmdsDiff(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "d", "busybox", "sleep", "100")
	s.ok("exec", "d", "sh", "-c", "touch /newfile; rm /bin/ls; mkdir -p /tmp/sub; echo x >>/etc/motd")
	out := s.ok("diff", "d")
	for _, want := range []string{"A /newfile", "C /bin", "D /bin/ls", "A /tmp/sub", "C /etc", "A /etc/motd"} {
		if !strings.Contains("\n"+out, "\n"+want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i-1][2:] > lines[i][2:] {
			t.Errorf("diff not sorted by path: %q before %q", lines[i-1], lines[i])
		}
	}
	s.ok("stop", "-t", "0", "d")
	if again := s.ok("diff", "d"); again != out {
		t.Fatalf("diff of the stopped sandbox differs:\n%s\nwas:\n%s", again, out)
	}
	s.fails(125, "nosuch", "diff", "nosuch")
}

// TestCmdsTagUntag: podman's tag (several names at once, short names go
// under localhost/) and untag (one name, or every name).
func TestCmdsTagUntag(t *testing.T) {
	s := withImages(t, false)
	if r := s.run("tag", "busybox", "t1", "t2:v2", "localhost/t3:x"); r.code != 0 || r.stdout != "" {
		t.Fatalf("tag: %d %q %q", r.code, r.stdout, r.stderr)
	}
	names := s.imageNames()
	for _, n := range []string{"localhost/busybox:latest", "localhost/t1:latest", "localhost/t2:v2", "localhost/t3:x"} {
		if !names[n] {
			t.Errorf("after tag, images lacks %s: %v", n, names)
		}
	}
	s.fails(125, "nosuch", "tag", "nosuch", "t9")
	// One bad name: none of them is added.
	s.fails(125, "BAD NAME", "tag", "busybox", "good", "BAD NAME")
	s.fails(125, "tag needs", "tag", "busybox")
	if after := s.imageNames(); len(after) != len(names) || after["localhost/good:latest"] {
		t.Fatalf("failed tags changed the names: %v, was %v", after, names)
	}
	if r := s.run("untag", "busybox", "t2:v2"); r.code != 0 || r.stdout != "" {
		t.Fatalf("untag IMAGE NAME: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if names := s.imageNames(); names["localhost/t2:v2"] || !names["localhost/t1:latest"] {
		t.Fatalf("untag t2:v2: %v", names)
	}
	// One name the image lacks: none is removed.
	s.fails(125, "nosuchtag", "untag", "busybox", "t1", "nosuchtag")
	if !s.imageNames()["localhost/t1:latest"] {
		t.Fatal("a failed untag removed t1")
	}
	s.fails(125, "nosuch", "untag", "nosuch")
	s.ok("untag", "t1")
	if names := s.imageNames(); len(names) != 1 || !names["<none>:<none>"] {
		t.Fatalf("untag IMAGE leaves names: %v", names)
	}
	if r := s.run("image", "exists", s.imageID()); r.code != 0 {
		t.Fatalf("untag removed the image: %d", r.code)
	}
}

// imageNames are the REPOSITORY:TAG pairs images lists.
func (s *store) imageNames() map[string]bool {
	s.t.Helper()
	out := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(s.ok("images")), "\n")[1:] {
		f := strings.Fields(l)
		out[f[0]+":"+f[1]] = true
	}
	return out
}

// imageID is the first image's full ID.
func (s *store) imageID() string {
	s.t.Helper()
	return strings.TrimPrefix(strings.Fields(s.ok("images", "-q", "--no-trunc"))[0], "sha256:")
}

// TestCmdsPruneDf: image prune removes dangling images (no name, no
// sandbox), -a every image no sandbox uses; system df is podman's table;
// system prune asks first, as podman, and removes stopped sandboxes and
// dangling images; rmi -a removes every image.
func TestCmdsPruneDf(t *testing.T) {
	s := withImages(t, true)
	s.ok("run", "-d", "--name", "up", "busybox", "sleep", "100")
	s.ok("create", "--name", "cr", "busybox", "true")
	s.ok("volume", "create", "idle")
	s.ok("run", "-d", "--name", "vol-user", "-v", "busy:/data", "busybox", "sleep", "100")

	out := s.ok("system", "df")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "TYPE TOTAL ACTIVE SIZE RECLAIMABLE" {
		t.Fatalf("system df:\n%s", out)
	}
	for i, want := range []string{"Images 2 1 ", "Containers 3 2 ", "Local Volumes 2 1 "} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); !strings.HasPrefix(got, want) {
			t.Errorf("system df row %d: %q, want %q…", i+1, got, want)
		}
	}

	// debian, untagged: dangling. busybox, untagged but used: kept.
	debian := ""
	for _, im := range s.images() {
		if len(im.Names) > 0 && im.Names[0] == "localhost/debian:bookworm" {
			debian = im.ID
		}
	}
	s.ok("untag", "localhost/debian:bookworm")
	s.ok("untag", "busybox")
	r := s.cmd("image", "prune")
	r.Stdin = strings.NewReader("n\n")
	b, err := r.Output()
	if err != nil || !strings.HasPrefix(string(b), "WARNING! This command removes all dangling images.\nAre you sure you want to continue? [y/N] ") {
		t.Fatalf("image prune without -f: %v %q", err, b)
	}
	if n := len(s.images()); n != 2 {
		t.Fatalf("image prune answered n removed images: %d left", n)
	}
	out = s.ok("image", "prune", "-f")
	if ims := s.images(); len(ims) != 1 || out != debian+"\n" {
		t.Fatalf("image prune -f: printed %q, left %d images", out, len(ims))
	}
	s.fails(125, "unknown flag", "image", "prune", "--bogus")

	// system prune: the stopped sandbox goes, the running one and its
	// image stay.
	c := s.cmd("system", "prune")
	c.Stdin = strings.NewReader("n\n")
	if b, _ := c.Output(); !strings.HasPrefix(string(b), "WARNING! This command removes:\n\t- all stopped containers\n") {
		t.Fatalf("system prune prompt: %q", b)
	}
	s.ok("system", "prune", "-f")
	if out := s.ok("ps", "-a", "-q"); strings.Count(out, "\n") != 2 {
		t.Fatalf("system prune left: %q", out)
	}
	if out := s.ok("volume", "ls", "-q"); out != "busy\nidle\n" {
		t.Fatalf("system prune without --volumes removed volumes: %q", out)
	}
	// --volumes: the volume no sandbox uses goes, podman's words.
	c = s.cmd("system", "prune", "--volumes")
	c.Stdin = strings.NewReader("n\n")
	if b, _ := c.Output(); !strings.Contains(string(b), "\t- all volumes not used by at least one container\n") {
		t.Fatalf("system prune --volumes prompt: %q", b)
	}
	if out := s.ok("system", "prune", "-f", "--volumes"); !strings.Contains(out, "Deleted Volumes\nidle\n") {
		t.Fatalf("system prune --volumes printed %q", out)
	}
	if out := s.ok("volume", "ls", "-q"); out != "busy\n" {
		t.Fatalf("after system prune --volumes: %q", out)
	}
	s.ok("rm", "-f", "vol-user")

	// rmi -a: an image in use is refused (podman: 2) and the others go.
	s.ok("pull", "-q", ociRef("debian", "bookworm"))
	r2 := s.run("rmi", "-a")
	if r2.code != 2 || !strings.Contains(r2.stdout, "Deleted:") {
		t.Fatalf("rmi -a with an image in use: %d %q %q", r2.code, r2.stdout, r2.stderr)
	}
	s.fails(125, "no arguments", "rmi", "-a", "busybox")
	s.ok("rm", "-f", "up")
	s.ok("rmi", "-a")
	if n := len(s.images()); n != 0 {
		t.Fatalf("rmi -a left %d images", n)
	}
}

// TestCmdsPodmanDifferences: where usandbox differed from podman 4.3.
func TestCmdsPodmanDifferences(t *testing.T) {
	s := withImages(t, false)
	// rm of an unknown and a known sandbox: podman looks them all up
	// first and removes nothing (exit 1).
	s.ok("create", "--name", "b", "busybox", "true")
	r := s.fails(1, "nosuch", "rm", "nosuch", "b")
	if r.stdout != "" {
		t.Fatalf("rm nosuch b printed %q", r.stdout)
	}
	s.inspect("b")
	// exec into a stopped sandbox: podman's 255.
	s.fails(255, "not running", "exec", "b", "true")
	// rmi of an unknown image: podman's 1.
	s.fails(1, "nosuch", "rmi", "nosuch")
	// help of an unknown topic: podman's words, its usage, exit 0.
	h := s.run("help", "nosuch")
	if h.code != 0 || !strings.HasPrefix(h.stderr, "Unknown help topic [`nosuch`]\n") || !strings.Contains(h.stderr, "COMMANDS:") {
		t.Fatalf("help nosuch: %d %q %q", h.code, h.stdout, h.stderr)
	}
	// start -a of a running sandbox attaches (podman: its output, exit 0).
	s.ok("run", "-d", "--name", "r", "busybox", "sh", "-c", "sleep 1; echo bye; exit 3")
	if a := s.run("start", "-a", "r"); a.code != 0 || a.stdout != "bye\n" {
		t.Fatalf("start -a of a running sandbox: %d %q %q", a.code, a.stdout, a.stderr)
	}
}

// TestCmdsCgroupRefused: pause, unpause and stats need the sandbox's
// cgroup v2; on a host without one they are refused with the fix, as the
// limit flags are (TestCmdsCgroup runs them in the VM).
func TestCmdsCgroupRefused(t *testing.T) {
	if cgroupV2() {
		t.Skip("this host has cgroup v2: TestCmdsCgroup covers it")
	}
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "p", "busybox", "sleep", "100")
	for _, args := range [][]string{{"pause", "p"}, {"unpause", "p"}, {"stats", "--no-stream", "p"}} {
		r := s.fails(125, "cgroup v2", args...)
		if !strings.Contains(r.stderr, "fix:") {
			t.Errorf("%v: no fix named: %s", args, r.stderr)
		}
	}
	s.fails(125, "nosuch", "pause", "nosuch")
	if st := s.inspect("p").State; !st.Running || st.Status != "running" {
		t.Fatalf("after a refused pause: %+v", st)
	}
}

// TestCmdsCgroup needs delegated cgroup v2 (hack/vmtest): pause freezes
// (status paused, exec refused), unpause thaws; stats --no-stream prints
// podman's columns.
func TestCmdsCgroup(t *testing.T) {
	if !cgroupV2() {
		t.Skip("this host has no cgroup v2 hierarchy (hybrid or v1): hack/vmtest runs this test in a VM")
	}
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "p", "--pids-limit", "50", "--memory", "64m", "busybox", "sh", "-c", "while :; do echo tick; sleep 0.2; done")
	if out := s.ok("pause", "p"); out != "p\n" {
		t.Fatalf("pause: %q", out)
	}
	if st := s.inspect("p").State; st.Status != "paused" || !st.Running {
		t.Fatalf("after pause: %+v", st)
	}
	if !strings.Contains(s.ok("ps"), "Paused") {
		t.Fatalf("ps does not show paused:\n%s", s.ok("ps"))
	}
	s.fails(125, "paused", "pause", "p")
	if out := s.ok("unpause", "p"); out != "p\n" {
		t.Fatalf("unpause: %q", out)
	}
	if st := s.inspect("p").State; st.Status != "running" {
		t.Fatalf("after unpause: %+v", st)
	}
	s.fails(125, "not paused", "unpause", "p")
	out := s.ok("stats", "--no-stream", "p")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[0]), " "), "ID NAME CPU % MEM USAGE / LIMIT MEM % NET IO BLOCK IO PIDS") {
		t.Fatalf("stats:\n%s", out)
	}
	if !strings.Contains(lines[1], "/ 67.11MB") {
		t.Fatalf("stats does not show the 64m limit: %q", lines[1])
	}
	// stop of a paused sandbox thaws it first: SIGTERM ends the shell.
	s.ok("pause", "p")
	s.fails(125, "paused", "exec", "p", "true")
	s.ok("stop", "-t", "5", "p")
	if out := s.ok("wait", "p"); out != "143\n" {
		t.Fatalf("wait after stop of a paused sandbox: %q", out)
	}
}

// TestCmdsCompletion: the bash script loads in bash and completes a
// subcommand.
func TestCmdsCompletion(t *testing.T) {
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Skip("bash-completion is not installed (hack/deps.sh installs it): urfave/cli's bash script needs it")
	}
	s := newStore(t)
	script := s.ok("completion", "bash")
	dir := t.TempDir()
	if err := os.Symlink(env.bin, filepath.Join(dir, "usandbox")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "c.bash")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("bash", "--norc", "-c", `source `+bashCompletion+` && source "$1" || exit 9
fn=$(complete -p usandbox | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[ -n "$fn" ] || exit 8
COMP_WORDS=(usandbox ren); COMP_CWORD=1; COMP_LINE="usandbox ren"; COMP_POINT=${#COMP_LINE}
$fn usandbox ren usandbox
printf '%s\n' "${COMPREPLY[@]}"`, "bash", f)
	c.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	b, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "rename") {
		t.Fatalf("bash completion of 'usandbox ren': %v\n%s", err, b)
	}
	for _, sh := range []string{"zsh", "fish"} {
		if out := s.ok("completion", sh); !strings.Contains(out, "usandbox") {
			t.Fatalf("completion %s: %q", sh, out)
		}
	}
	s.fails(125, "unknown shell", "completion", "nosuch")
}
