//go:build integration

package integration

// Behaviour where usandbox follows rootless podman 4.3 (docker where
// podman has nothing): each case was first run through podman on the same
// input, and its output and exit status are what is asserted here.

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPodmanMemoryZero: --memory 0 is no limit (podman and docker), not
// a zero-byte limit nor an error.
func TestPodmanMemoryZero(t *testing.T) {
	s := withImages(t, false)
	for _, f := range []string{"--memory", "-m"} {
		if out := s.ok("run", "--rm", f, "0", "busybox", "echo", "ran"); out != "ran\n" {
			t.Fatalf("%s 0: got %q", f, out)
		}
	}
}

// TestPodmanPublishHostNetwork: podman discards -p with --network host,
// says so, and runs the command.
func TestPodmanPublishHostNetwork(t *testing.T) {
	s := withImages(t, false)
	r := s.run("run", "--rm", "-p", "8080:80", "--network", "host", "busybox", "echo", "ran")
	if r.code != 0 || r.stdout != "ran\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "Port mappings have been discarded as one of the Host, Container, Pod, and None network modes are in use") {
		t.Fatalf("no warning on stderr: %q", r.stderr)
	}
}

// TestPodmanEntrypointJSON: --entrypoint '["a","b"]' is an argv, as in
// docker and podman; anything else is one program.
func TestPodmanEntrypointJSON(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("run", "--rm", "--entrypoint", `["echo","a"]`, "busybox", "b"); out != "a b\n" {
		t.Fatalf("JSON entrypoint: got %q, want %q", out, "a b\n")
	}
	if out := s.ok("run", "--rm", "--entrypoint", "echo", "busybox", "[x]"); out != "[x]\n" {
		t.Fatalf("plain entrypoint: got %q", out)
	}
}

// TestPodmanWorkdirCreated: a missing -w directory is made (docker does;
// podman 4.3 with runc refuses with exit 126, podman 5 creates it).
func TestPodmanWorkdirCreated(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("run", "--rm", "-w", "/x/y", "busybox", "sh", "-c", "pwd; stat -c %U /x/y"); out != "/x/y\nroot\n" {
		t.Fatalf("got %q", out)
	}
}

// TestPodmanTTYNotTerminal: -it with a stdin that is no terminal fails
// before anything runs with docker's message, and exit status 125 (the
// status podman gives its own failures; podman 4.3 warns and runs).
func TestPodmanTTYNotTerminal(t *testing.T) {
	s := withImages(t, false)
	s.fails(125, "the input device is not a TTY", "run", "--rm", "-it", "busybox", "true")
	s.fails(125, "the input device is not a TTY", "run", "--rm", "-i", "-t", "busybox", "true")
	s.ok("run", "-d", "--name", "up", "busybox", "sleep", "100")
	s.fails(125, "the input device is not a TTY", "exec", "-it", "up", "true")
	s.ok("rm", "-f", "up")
	// Detached, -it needs no terminal (docker and podman run -dit).
	s.ok("run", "-dit", "--name", "dit", "busybox", "sleep", "100")
	s.ok("rm", "-f", "dit")
	// -t alone is allowed (docker and podman).
	if out := s.ok("run", "--rm", "-t", "busybox", "echo", "ok"); strings.TrimSpace(out) != "ok" {
		t.Fatalf("-t: got %q", out)
	}
	if ids := s.ok("ps", "-a", "-q"); ids != "" {
		t.Fatalf("a refused -it left a sandbox: %q", ids)
	}
}

// TestPodmanContainerenv: /run/.containerenv exists in every sandbox;
// podman fills it only for --privileged ones.
func TestPodmanContainerenv(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("run", "--rm", "--name", "plain", "busybox", "cat", "/run/.containerenv"); out != "" {
		t.Fatalf("unprivileged .containerenv: got %q, want it empty (podman)", out)
	}
	out := s.ok("run", "--name", "priv", "--privileged", "busybox", "cat", "/run/.containerenv")
	sb := s.inspect("priv")
	for _, want := range []string{
		`engine="usandbox`,
		`name="priv"`,
		`id="` + sb.ID + `"`,
		`image="busybox"`,
		`imageid="`,
		"rootless=1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf(".containerenv lacks %s:\n%s", want, out)
		}
	}
	s.ok("rm", "priv")
}

// TestPodmanTerm: TERM=xterm with -t, unless -e TERM is given (docker;
// podman sets it without -t too).
func TestPodmanTerm(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("run", "--rm", "-t", "busybox", "sh", "-c", "echo $TERM"); strings.TrimSpace(out) != "xterm" {
		t.Fatalf("-t: TERM=%q", out)
	}
	if out := s.ok("run", "--rm", "-t", "-e", "TERM=vt100", "busybox", "sh", "-c", "echo $TERM"); strings.TrimSpace(out) != "vt100" {
		t.Fatalf("-t -e TERM=vt100: TERM=%q", out)
	}
	// podman sets it without -t too (containers.conf's default env).
	if out := s.ok("run", "--rm", "busybox", "sh", "-c", "echo $TERM"); out != "xterm\n" {
		t.Fatalf("without -t: TERM=%q", out)
	}
}

// TestPodmanReadOnlyTmpfs: --read-only keeps /tmp, /var/tmp and /run
// writable tmpfs, as podman's --read-only-tmpfs (on by default) does;
// --read-only-tmpfs=false makes them read-only too. The rest stays
// read-only, and /run/.containerenv is still there.
func TestPodmanReadOnlyTmpfs(t *testing.T) {
	s := withImages(t, false)
	out := s.ok("run", "--rm", "--read-only", "busybox", "sh", "-c",
		"for d in /tmp /var/tmp /run; do touch $d/f && echo $d ok; done; touch /etc/f 2>/dev/null || echo etc ro; test -e /run/.containerenv && echo containerenv")
	if want := "/tmp ok\n/var/tmp ok\n/run ok\netc ro\ncontainerenv\n"; out != want {
		t.Fatalf("--read-only: got %q, want %q", out, want)
	}
	out = s.ok("run", "--rm", "--read-only", "--read-only-tmpfs=false", "busybox", "sh", "-c", "touch /tmp/f 2>/dev/null || echo tmp ro")
	if out != "tmp ro\n" {
		t.Fatalf("--read-only-tmpfs=false: got %q", out)
	}
	// A --tmpfs of the user's on one of them wins.
	out = s.ok("run", "--rm", "--read-only", "--tmpfs", "/tmp:size=1m", "busybox", "sh", "-c", "df -k /tmp | tail -1 | awk '{print $2}'")
	if out != "1024\n" {
		t.Fatalf("--tmpfs /tmp:size=1m with --read-only: size %q", out)
	}
}

// TestPodmanNoResolvConfWithoutNetwork: with --network none podman gives
// the sandbox no /etc/resolv.conf of its own (the image's, if any, stays);
// --dns still writes one.
func TestPodmanNoResolvConfWithoutNetwork(t *testing.T) {
	s := withImages(t, false)
	if r := s.run("run", "--rm", "--network", "none", "busybox", "cat", "/etc/resolv.conf"); r.code == 0 {
		t.Fatalf("--network none has a resolv.conf: %q", r.stdout)
	}
	if out := s.ok("run", "--rm", "--network", "none", "--dns", "192.0.2.53", "busybox", "cat", "/etc/resolv.conf"); out != "nameserver 192.0.2.53\n" {
		t.Fatalf("--network none --dns: %q", out)
	}
}

// TestPodmanHostsName: the sandbox's name is in its /etc/hosts after its
// hostname, on the sandbox's address, as podman writes it.
func TestPodmanHostsName(t *testing.T) {
	s := withImages(t, false)
	out := s.ok("run", "--rm", "--name", "web", "-h", "hh", "busybox", "cat", "/etc/hosts")
	if !regexp.MustCompile(`(?m)^\S+\thh web$`).MatchString(out) {
		t.Fatalf("no \"ADDR\\thh web\" line in /etc/hosts:\n%s", out)
	}
	out = s.ok("run", "--rm", "--name", "db", "--network", "none", "busybox", "sh", "-c", "hostname; cat /etc/hosts")
	host, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(out, "\t"+host+" db\n") {
		t.Fatalf("no \"ADDR\\t%s db\" line in /etc/hosts:\n%s", host, out)
	}
}

// TestPodmanStopWarnsKill: stop says so when SIGTERM did not stop the
// sandbox in time and SIGKILL did.
func TestPodmanStopWarnsKill(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", `trap "" TERM; echo ready; while :; do sleep 1; done`)
	waitLog(t, s, "stubborn", "ready")
	r := s.run("stop", "-t", "1", "stubborn")
	if r.code != 0 || r.stdout != "stubborn\n" {
		t.Fatalf("stop: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "StopSignal SIGTERM failed to stop sandbox stubborn in 1 seconds, resorting to SIGKILL") {
		t.Fatalf("no warning on stderr: %q", r.stderr)
	}
	s.ok("run", "-d", "--name", "meek", "busybox", "sleep", "100")
	if r := s.run("stop", "meek"); r.code != 0 || r.stderr != "" {
		t.Fatalf("stop of a sandbox that obeys SIGTERM: exit %d, stderr %q", r.code, r.stderr)
	}
}

func waitLog(t *testing.T, s *store, ref, want string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if strings.Contains(s.ok("logs", ref), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never printed %q", ref, want)
}

// TestPodmanUnknownCommandOrFlag: podman names the unknown command or flag
// and the command, and exits 125.
func TestPodmanUnknownCommandOrFlag(t *testing.T) {
	s := newStore(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuchcmd"}, "unrecognized command `usandbox nosuchcmd`"},
		{[]string{"system", "bogus"}, "unrecognized command `usandbox system bogus`"},
		{[]string{"network", "bogus"}, "unrecognized command `usandbox network bogus`"},
		{[]string{"kube", "play", "x.yml"}, "unrecognized command `usandbox kube`"},
		{[]string{"run", "--nosuchflag", "busybox"}, "unknown flag: --nosuchflag"},
		{[]string{"ps", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"ps", "-Z"}, "unknown shorthand flag: 'Z' in -Z"},
		{[]string{"system", "reset", "--bogus"}, "unknown flag: --bogus"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := s.with(t).fails(125, tt.want, tt.args...)
			if strings.Contains(r.stderr, "No help topic") || strings.Contains(r.stderr, "usandbox usandbox") {
				t.Fatalf("stderr: %q", r.stderr)
			}
		})
	}
	r := s.fails(125, "unknown flag", "ps", "--bogus")
	if !strings.Contains(r.stderr, "See 'usandbox ps --help'") {
		t.Fatalf("stderr does not name the command's help: %q", r.stderr)
	}
	r = s.fails(125, "unrecognized command", "system", "bogus")
	if !strings.Contains(r.stderr, "Try 'usandbox system --help'") {
		t.Fatalf("stderr does not name the group's help: %q", r.stderr)
	}
}

// TestPodmanExitCodes: the exit statuses podman 4.3 gives on the same
// input.
func TestPodmanExitCodes(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "up", "busybox", "sleep", "100")
	for _, tt := range []struct {
		code int
		want string
		args []string
	}{
		{1, "no such sandbox", []string{"rm", "nosuch"}},
		{2, "stop it first", []string{"rm", "up"}},
		{125, "no such sandbox", []string{"stop", "nosuch"}},
		{125, "no such sandbox", []string{"kill", "nosuch"}},
		{125, "no such sandbox", []string{"start", "nosuch"}},
		{125, `no such object: "nosuch"`, []string{"inspect", "nosuch"}},
		{125, "no such sandbox", []string{"wait", "nosuch"}},
		{125, "no such sandbox", []string{"exec", "nosuch", "true"}},
		{125, "no such sandbox", []string{"logs", "nosuch"}},
		{125, "run needs an image", []string{"run"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			s.with(t).fails(tt.code, tt.want, tt.args...)
		})
	}
	// One unknown among several: exit 1, and none is removed (podman
	// 4.3 looks them all up first; docker would remove the others).
	s.ok("run", "--name", "done", "busybox", "true")
	r := s.fails(1, "no such sandbox", "rm", "nosuch", "done")
	if r.stdout != "" {
		t.Fatalf("rm nosuch done: stdout %q", r.stdout)
	}
	s.inspect("done")
	s.ok("rm", "-f", "up")
}
