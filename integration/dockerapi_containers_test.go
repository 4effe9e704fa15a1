//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestDockerAPIContainers: the docker CLI runs sandboxes through the
// service, the same sandboxes the usandbox CLI sees: run --rm with its
// output and status, run -d, logs -f, stop, rm -f; and bad input gets
// docker's status and words and leaves nothing.
func TestDockerAPIContainers(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	host, _ := s.service(t, "0")

	r := docker(t, bin, host, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("docker run --rm: %+v", r)
	}
	if got := s.ok("ps", "-aq"); got != "" {
		t.Fatalf("docker run --rm left a sandbox: %q", got)
	}
	// Without --rm: the status is the sandbox's, and usandbox sees it.
	r = docker(t, bin, host, "run", "--name", "once", "-e", "A=b", "-w", "/tmp", "busybox", "sh", "-c", "echo $A $(pwd); exit 7")
	if r.code != 7 || r.stdout != "b /tmp\n" {
		t.Fatalf("docker run: %+v", r)
	}
	if got := s.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(got, "once Exited (7)") {
		t.Fatalf("usandbox ps -a after docker run: %q", got)
	}
	r = docker(t, bin, host, "logs", "once")
	if r.code != 0 || r.stdout != "b /tmp\n" {
		t.Fatalf("docker logs: %+v", r)
	}
	docker(t, bin, host, "rm", "once")

	// Detached, followed, stopped.
	r = docker(t, bin, host, "run", "-d", "--name", "web", "--label", "app=x", "busybox", "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done")
	if r.code != 0 || len(strings.TrimSpace(r.stdout)) != 64 {
		t.Fatalf("docker run -d: %+v", r)
	}
	if got := s.ok("ps", "--format", "{{.Names}} {{.Labels}}"); !strings.Contains(got, "web") || !strings.Contains(got, "app:x") {
		t.Fatalf("usandbox ps does not list the API's sandbox: %q", got)
	}
	follow := s.dockerStart(t, bin, host, "logs", "-f", "web")
	waitFor(t, "docker logs -f to show the first line", func() bool { return strings.Contains(follow.out.String(), "started") })
	r = docker(t, bin, host, "stop", "-t", "5", "web")
	if r.code != 0 || r.stdout != "web\n" {
		t.Fatalf("docker stop: %+v", r)
	}
	if err := follow.wait(10 * time.Second); err != nil || follow.out.String() != "started\nbye\n" {
		t.Fatalf("docker logs -f: %v %q", err, follow.out.String())
	}
	r = docker(t, bin, host, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web")
	if r.code != 0 || r.stdout != "exited 0\n" {
		t.Fatalf("docker inspect after stop: %+v", r)
	}
	r = docker(t, bin, host, "start", "web")
	if r.code != 0 {
		t.Fatalf("docker start: %+v", r)
	}
	r = docker(t, bin, host, "rm", "web")
	if r.code != 1 || !strings.Contains(r.stderr, "You cannot remove a running container web") {
		t.Fatalf("docker rm of a running sandbox: %+v", r)
	}
	r = docker(t, bin, host, "rm", "-f", "web")
	if r.code != 0 || s.ok("ps", "-aq") != "" {
		t.Fatalf("docker rm -f: %+v", r)
	}

	// Bad input.
	r = docker(t, bin, host, "stop", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, "No such container: nosuch") {
		t.Fatalf("docker stop of an unknown sandbox: %+v", r)
	}
	s.ok("create", "--name", "taken", "busybox", "true")
	r = docker(t, bin, host, "create", "--name", "taken", "busybox", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "taken") || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("docker create with a name in use: %+v", r)
	}
	r = docker(t, bin, host, "run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "does not support Sysctls") {
		t.Fatalf("docker run --sysctl: %+v", r)
	}
	code, body := apiPost(t, host, "/v1.41/containers/create", "{bad json")
	if code != http.StatusBadRequest || !strings.Contains(body, `"message"`) {
		t.Fatalf("create with bad JSON: %d %s", code, body)
	}
	code, body = apiPost(t, host, "/v1.41/containers/create", `{"Image":"nosuchimage"}`)
	if code != http.StatusNotFound || !strings.Contains(body, "No such image: nosuchimage") {
		t.Fatalf("create of an unknown image: %d %s", code, body)
	}
	if got := s.ok("ps", "-a", "--format", "{{.Names}}"); got != "taken\n" {
		t.Fatalf("bad input left sandboxes: %q", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "sandboxes")); len(ents) != 1 {
		t.Fatalf("bad input left sandbox directories: %d", len(ents))
	}
}

// apiPost posts body to the service at host (unix://PATH).
func apiPost(t *testing.T, host, path, body string) (int, string) {
	t.Helper()
	sock := strings.TrimPrefix(host, "unix://")
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Post("http://usandbox"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// background is a docker command left running.
type background struct {
	out  *syncBuffer
	done chan struct{}
	err  error
}

func (b *background) wait(d time.Duration) error {
	select {
	case <-b.done:
		return b.err
	case <-time.After(d):
		return io.ErrNoProgress
	}
}

// dockerStart starts a docker command that runs on (logs -f).
func (s *store) dockerStart(t *testing.T, bin, host string, args ...string) *background {
	t.Helper()
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	b := &background{out: &syncBuffer{}, done: make(chan struct{})}
	c.Stdout = b.out
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.err = c.Wait(); close(b.done) }()
	t.Cleanup(func() { c.Process.Kill(); <-b.done })
	return b
}

// TestDockerAPIStdin: docker run -i feeds the command's stdin through
// the service, whose end is the command's end of file (StdinOnce); and
// docker run -it gets a tty that follows the client terminal's size.
func TestDockerAPIStdin(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	host, _ := s.service(t, "0")

	c := exec.Command(bin, "run", "-i", "--rm", "busybox", "sh", "-c", "wc -l; echo end")
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	c.Stdin = strings.NewReader("a\nb\nc\n")
	r, err := capture(c)
	if err != nil || r.code != 0 || r.stdout != "3\nend\n" {
		t.Fatalf("docker run -i: %v %+v", err, r)
	}

	c = exec.Command(bin, "run", "-it", "--rm", "busybox", "sh")
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	ptmx, err := pty.StartWithSize(c, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	expect := ptyExpect(t, ptmx)
	// The client resizes the sandbox's pty after the start: ask until
	// the size has arrived.
	ask := func(cmd string) (stop func()) {
		done := make(chan struct{})
		go func() {
			for {
				fmt.Fprintf(ptmx, "%s\r", cmd)
				select {
				case <-done:
					return
				case <-time.After(300 * time.Millisecond):
				}
			}
		}()
		return func() { close(done) }
	}
	fmt.Fprintf(ptmx, "echo result=$((6*7)); tty\r")
	expect(`^result=42`)
	expect(`^/dev/pts/\d+`)
	stop := ask("stty size")
	expect(`^24 80$`)
	stop()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	stop = ask("stty size")
	expect(`^50 132$`)
	stop()
	fmt.Fprintf(ptmx, "exit 3\r")
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("docker run -it: %v, want exit status 3", err)
		}
	case <-time.After(15 * time.Second):
		c.Process.Kill()
		t.Fatal("docker run -it did not end after exit")
	}
	if got := s.ok("ps", "-aq"); got != "" {
		t.Fatalf("docker run -it --rm left a sandbox: %q", got)
	}
}

// TestDockerAPIEvents: docker events streams what the CLI and the API
// did to sandboxes (the monitors write their starts and ends), filtered;
// and lists the past with --since and --until.
func TestDockerAPIEvents(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	host, _ := s.service(t, "0")
	follow := s.dockerStart(t, bin, host, "events", "--filter", "type=container", "--filter", "event=create", "--filter", "event=start",
		"--filter", "event=die", "--filter", "event=destroy", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	time.Sleep(300 * time.Millisecond) // the stream is open (no event yet to prove it)
	if r := s.run("run", "--rm", "--name", "ev", "busybox", "sh", "-c", "exit 2"); r.code != 2 {
		t.Fatalf("usandbox run: %+v", r)
	}
	docker(t, bin, host, "run", "--name", "ev2", "busybox", "true")
	docker(t, bin, host, "rm", "ev2")
	want := "create ev\nstart ev\ndie ev\ndestroy ev\ncreate ev2\nstart ev2\ndie ev2\ndestroy ev2\n"
	waitForUpTo(t, 10*time.Second, "docker events to show the two runs", func() bool { return follow.out.String() == want })
	r := docker(t, bin, host, "events", "--since", "0", "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "event=die", "--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
	if r.code != 0 || r.stdout != "ev 2\nev2 0\n" {
		t.Fatalf("docker events --since --until: %+v", r)
	}
	r = docker(t, bin, host, "events", "--filter", "nosuch=x")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid filter") {
		t.Fatalf("docker events with a bad filter: %+v", r)
	}
}
