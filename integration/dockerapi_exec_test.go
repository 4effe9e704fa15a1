//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// execLeft fails t if the sandbox name runs anything besides its init,
// its command (sleep 1000) and the ps that looks: an exec's process
// left behind.
func (s *store) execLeft(t *testing.T, name, after string) {
	t.Helper()
	out := s.ok("exec", name, "ps", "-o", "args")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "usandbox-init") && l != "sleep 1000" && l != "ps -o args" {
			t.Errorf("after %s, the sandbox still runs %q:\n%s", after, l, out)
		}
	}
}

// TestDockerAPIExec: docker exec through the service: stdout, stderr and
// the exit status apart, stdin to its end, env/workdir/user, a tty, and
// docker's errors; no process of an exec outlives it.
func TestDockerAPIExec(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "box", "busybox", "sleep", "1000")
	s.ok("create", "--name", "stopped", "busybox", "true")
	host, _ := s.service(t, "0")
	dockerIn := func(stdin string, args ...string) result {
		t.Helper()
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
		c.Stdin = strings.NewReader(stdin)
		r, err := capture(c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	for _, tt := range []struct {
		name, stdin            string
		args                   []string
		code                   int
		stdout, stderrContains string
	}{
		{"stdout", "", []string{"exec", "box", "echo", "hi"}, 0, "hi\n", ""},
		{"stderr and status", "", []string{"exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err\n"},
		{"stdin", "data\nmore\n", []string{"exec", "-i", "box", "cat"}, 0, "data\nmore\n", ""},
		{"no stdin without -i", "data\n", []string{"exec", "box", "cat"}, 0, "", ""},
		{"env workdir user", "", []string{"exec", "-e", "A=b", "-w", "/tmp", "-u", "1000", "box", "sh", "-c", "echo $A $(pwd) $(id -u)"}, 0, "b /tmp 1000\n", ""},
		// A tty merges the streams and ends lines with \r\n.
		{"tty", "", []string{"exec", "-t", "box", "sh", "-c", "tty; echo err >&2"}, 0, "/dev/pts/0\r\nerr\r\n", ""},
		{"detached", "", []string{"exec", "-d", "box", "sh", "-c", "echo x > /tmp/detached"}, 0, "", ""},
		{"not found", "", []string{"exec", "box", "nosuchcommand"}, 127, "", "nosuchcommand"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := dockerIn(tt.stdin, tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderrContains) {
				t.Fatalf("docker %s: %+v, want exit %d, stdout %q, stderr with %q", strings.Join(tt.args, " "), r, tt.code, tt.stdout, tt.stderrContains)
			}
			if tt.name == "detached" {
				waitFor(t, "the detached exec's file", func() bool { return s.run("exec", "box", "cat", "/tmp/detached").stdout == "x\n" })
			}
			s.execLeft(t, "box", "docker "+strings.Join(tt.args, " "))
		})
	}

	// Bad input: docker's statuses and words, nothing left running.
	r := dockerIn("", "exec", "nosuch", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "No such container: nosuch") {
		t.Errorf("docker exec in an unknown sandbox: %+v", r)
	}
	r = dockerIn("", "exec", "stopped", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "is not running") {
		t.Errorf("docker exec in a stopped sandbox: %+v", r)
	}
	r = dockerIn("", "exec", "--privileged", "box", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "privileged exec is not supported") {
		t.Errorf("docker exec --privileged: %+v", r)
	}
	r = dockerIn("", "exec", "--detach-keys", "ctrl-x", "box", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "detach keys are not supported") {
		t.Errorf("docker exec --detach-keys: %+v", r)
	}
	sock := strings.TrimPrefix(host, "unix://")
	for _, tt := range []struct{ method, path, body, want string }{
		{"POST", "/v1.41/containers/nosuch/exec", `{"Cmd":["true"]}`, `404 {"message":"No such container: nosuch"}`},
		{"POST", "/v1.41/containers/stopped/exec", `{"Cmd":["true"]}`, `409 {"message":"Container `},
		{"POST", "/v1.41/containers/box/exec", `{"Cmd":[]}`, `400 {"message":"No exec command specified"}`},
		{"GET", "/v1.41/exec/nosuch/json", ``, `404 {"message":"No such exec instance: nosuch"}`},
		{"POST", "/v1.41/exec/nosuch/start", `{}`, `404 {"message":"No such exec instance: nosuch"}`},
		{"POST", "/v1.41/exec/nosuch/resize?h=1&w=1", ``, `404 {"message":"No such exec instance: nosuch"}`},
	} {
		args := []string{"-s", "-X", tt.method, "-w", "%{http_code} ", "-o", "/dev/stderr", "--unix-socket", sock, "http://d" + tt.path}
		if tt.body != "" {
			args = append(args, "-H", "Content-Type: application/json", "-d", tt.body)
		}
		c := exec.Command("curl", args...)
		var body syncBuffer
		c.Stderr = &body
		out, err := c.Output()
		if got := string(out) + strings.TrimSpace(body.String()); err != nil || !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s %s: %q %v, want %q…", tt.method, tt.path, got, err, tt.want)
		}
	}
	s.execLeft(t, "box", "the bad input")
	s.ok("rm", "-f", "box", "stopped")
}

// TestDockerAPIExecInspect: an exec's record through the API: created,
// then ended with its exit code (what docker exec reads at the end).
func TestDockerAPIExecInspect(t *testing.T) {
	dockerCLI(t) // the same test cache; curl speaks here
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "box", "busybox", "sleep", "1000")
	host, _ := s.service(t, "0")
	sock := strings.TrimPrefix(host, "unix://")
	curl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-s", "--unix-socket", sock}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return string(out)
	}
	out := curl("-H", "Content-Type: application/json", "-d", `{"Cmd":["sh","-c","exit 4"],"User":"1000"}`, "http://d/v1.41/containers/box/exec")
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(out), `{"Id":"`), `"}`)
	if len(id) != 64 {
		t.Fatalf("exec create: %q", out)
	}
	out = curl("http://d/v1.41/exec/" + id + "/json")
	for _, want := range []string{`"Running":false`, `"ExitCode":null`, `"entrypoint":"sh"`, `"arguments":["-c","exit 4"]`, `"user":"1000"`} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect before the start: %s lacks %s", out, want)
		}
	}
	// Detached: the answer comes at once, the exit code once it ended.
	curl("-H", "Content-Type: application/json", "-d", `{"Detach":true}`, "http://d/v1.41/exec/"+id+"/start")
	waitFor(t, "the exec's end", func() bool { return strings.Contains(curl("http://d/v1.41/exec/"+id+"/json"), `"ExitCode":4`) })
	out = curl("-H", "Content-Type: application/json", "-d", `{"Detach":true}`, "http://d/v1.41/exec/"+id+"/start")
	if !strings.Contains(out, "has already run") {
		t.Errorf("a second start: %s", out)
	}
	// A running exec's host pid is the command's.
	out = curl("-H", "Content-Type: application/json", "-d", `{"Cmd":["sleep","3"]}`, "http://d/v1.41/containers/box/exec")
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(out), `{"Id":"`), `"}`)
	curl("-H", "Content-Type: application/json", "-d", `{"Detach":true}`, "http://d/v1.41/exec/"+id+"/start")
	var ins struct {
		Running  bool
		ExitCode *int
		Pid      int
	}
	if err := json.Unmarshal([]byte(curl("http://d/v1.41/exec/"+id+"/json")), &ins); err != nil || !ins.Running || ins.Pid <= 0 {
		t.Fatalf("inspect of a running exec: %+v %v", ins, err)
	}
	// The pid is known from the fork on: it becomes the command at its
	// exec, a moment later.
	waitForUpTo(t, 2*time.Second, fmt.Sprintf("the exec's pid %d to run sleep 3", ins.Pid), func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ins.Pid))
		return err == nil && string(b) == "sleep\x003\x00"
	})
	waitFor(t, "the sleep's end", func() bool { return strings.Contains(curl("http://d/v1.41/exec/"+id+"/json"), `"ExitCode":0`) })
	// A tty's size given at the create is the command's from its start
	// (docker 1.42's ConsoleSize); a client without Upgrade gets the
	// stream after a 200.
	out = curl("-H", "Content-Type: application/json", "-d", `{"Cmd":["stty","size"],"Tty":true,"AttachStdout":true,"ConsoleSize":[33,111]}`, "http://d/v1.41/containers/box/exec")
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(out), `{"Id":"`), `"}`)
	out = curl("-i", "-H", "Content-Type: application/json", "-d", `{"Tty":true}`, "http://d/v1.41/exec/"+id+"/start")
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.Contains(out, "Content-Type: application/vnd.docker.raw-stream\r\n") || !strings.HasSuffix(out, "\r\n\r\n33 111\r\n") {
		t.Errorf("exec start of stty size without Upgrade: %q", out)
	}
	s.ok("rm", "-f", "box")
}

// TestDockerAPIExecHoldsService: a service that exits when idle waits
// for an exec that runs, attached (its connection is no longer
// net/http's) or detached.
func TestDockerAPIExecHoldsService(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "box", "busybox", "sleep", "1000")
	host, exited := s.service(t, "1")
	r := docker(t, bin, host, "exec", "box", "sh", "-c", "sleep 3; echo done")
	if r.code != 0 || r.stdout != "done\n" {
		t.Fatalf("an exec longer than the idle time: %+v", r)
	}
	start := time.Now()
	r = docker(t, bin, host, "exec", "-d", "box", "sleep", "4")
	if r.code != 0 {
		t.Fatalf("docker exec -d: %+v", r)
	}
	if err, ok := exited(); !ok || err != nil {
		t.Fatalf("the service did not end after the detached exec: %v %v", ok, err)
	}
	if d := time.Since(start); d < 4*time.Second {
		t.Fatalf("the service ended %v after a detached exec of 4 s began", d)
	}
	s.execLeft(t, "box", "the service's end")
	s.ok("rm", "-f", "box")
}

// TestDockerAPIExecTerminal: docker exec -it in a terminal (tmux's):
// the shell sees the terminal's size, follows its resize, and its exit
// status comes back.
func TestDockerAPIExecTerminal(t *testing.T) {
	bin := dockerCLI(t)
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("no tmux (hack/deps.sh installs it): the interactive terminal is not tested")
	}
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "box", "busybox", "sleep", "1000")
	host, _ := s.service(t, "0")
	dir := t.TempDir()
	sock, conf := filepath.Join(dir, "tmux.sock"), filepath.Join(dir, "tmux.conf")
	// No status line: the pane is the whole window from the start.
	if err := os.WriteFile(conf, []byte("set -g status off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock, "-f", conf}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v %s", args, err, out)
		}
		return string(out)
	}
	shell := fmt.Sprintf("env DOCKER_HOST=%s DOCKER_CONFIG=%s %s exec -it box sh; echo EXITED $?; sleep 600", host, t.TempDir(), bin)
	tm("new-session", "-d", "-x", "100", "-y", "30", "-s", "t", shell)
	t.Cleanup(func() { exec.Command(tmux, "-S", sock, "kill-server").Run() })
	screen := func() string { return tm("capture-pane", "-p", "-t", "t") }
	waitFor(t, "the shell's prompt", func() bool { return strings.Contains(screen(), "/ #") })
	tm("send-keys", "-t", "t", "stty size; tty", "Enter")
	waitFor(t, "the first size", func() bool { return strings.Contains(screen(), "30 100\n/dev/pts/0") })
	tm("resize-window", "-t", "t", "-x", "120", "-y", "40")
	time.Sleep(300 * time.Millisecond) // the resize goes by SIGWINCH to docker, then the API
	tm("send-keys", "-t", "t", "stty size", "Enter")
	waitFor(t, "the resized terminal", func() bool { return strings.Contains(screen(), "40 120") })
	tm("send-keys", "-t", "t", "exit 7", "Enter")
	waitFor(t, "docker's exit status", func() bool { return strings.Contains(screen(), "EXITED 7") })
	s.execLeft(t, "box", "docker exec -it")
	s.ok("rm", "-f", "box")
}
