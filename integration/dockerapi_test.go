//go:build integration

package integration

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerCLI is Debian's docker client (hack/deps.sh unpacks docker.io's
// into the test cache; no dockerd is started).
func dockerCLI(t *testing.T) string {
	t.Helper()
	p := filepath.Join(env.cache, "docker-cli", "usr", "bin", "docker")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no docker client at %s (hack/deps.sh fetches it with apt-get download docker.io): %v", p, err)
	}
	return p
}

// service starts usandbox system service on a socket of the store's and
// returns its DOCKER_HOST; it ends with the test.
func (s *store) service(t *testing.T, idle string) (host string, exited func() (error, bool)) {
	t.Helper()
	sock := filepath.Join(s.dir, "api.sock")
	c := s.cmd("system", "service", "--time", idle, "unix://"+sock)
	var errb syncBuffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	var werr error
	go func() { werr = c.Wait(); close(ended) }()
	t.Cleanup(func() {
		c.Process.Kill()
		<-ended
		if t.Failed() {
			t.Logf("the service's stderr: %s (it ended: %v)", errb.String(), werr)
		}
	})
	// exited waits up to 10 s for the service to end by itself.
	exited = func() (error, bool) {
		select {
		case <-ended:
			return werr, true
		case <-time.After(10 * time.Second):
			return nil, false
		}
	}
	for i := 0; i < 100; i++ {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			return "unix://" + sock, exited
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the service did not listen on %s: %s", sock, errb.String())
	return "", nil
}

func docker(t *testing.T, bin, host string, args ...string) result {
	t.Helper()
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	r, err := capture(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDockerAPIReads: the docker CLI sees the CLI's sandboxes and images
// through the service, in docker's shapes, with docker's errors.
func TestDockerAPIReads(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "web", "--label", "app=x", "busybox", "sleep", "600")
	s.ok("create", "--name", "later", "busybox", "true")
	host, _ := s.service(t, "0")

	r := docker(t, bin, host, "version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}")
	if r.code != 0 || r.stdout != "1.41 1.41\n" {
		t.Fatalf("docker version: %+v", r)
	}
	r = docker(t, bin, host, "ps", "--format", "{{.Names}} {{.State}}")
	if r.code != 0 || r.stdout != "web running\n" {
		t.Fatalf("docker ps: %+v", r)
	}
	r = docker(t, bin, host, "ps", "-a", "--filter", "label=app=x", "--format", "{{.Names}}")
	if r.code != 0 || r.stdout != "web\n" {
		t.Fatalf("docker ps -a --filter label: %+v", r)
	}
	r = docker(t, bin, host, "ps", "-a", "--format", "{{.Names}}")
	if r.code != 0 || !strings.Contains(r.stdout, "later") {
		t.Fatalf("docker ps -a: %+v", r)
	}
	r = docker(t, bin, host, "inspect", "--format", "{{.State.Status}} {{.Name}} {{.Config.Image}}", "web")
	if r.code != 0 || r.stdout != "running /web busybox\n" {
		t.Fatalf("docker inspect: %+v", r)
	}
	r = docker(t, bin, host, "images", "--format", "{{.Repository}}:{{.Tag}}")
	if r.code != 0 || !strings.Contains(r.stdout, "busybox:latest") {
		t.Fatalf("docker images: %+v", r)
	}
	r = docker(t, bin, host, "image", "inspect", "--format", "{{json .RepoTags}}", "busybox")
	var tags []string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tags) != nil || len(tags) == 0 {
		t.Fatalf("docker image inspect: %+v", r)
	}
	// Bad input: docker's statuses and words.
	r = docker(t, bin, host, "inspect", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, "No such object: nosuch") {
		t.Fatalf("docker inspect of an unknown sandbox: %+v", r)
	}
	r = docker(t, bin, host, "container", "inspect", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, "No such container: nosuch") {
		t.Fatalf("docker container inspect of an unknown sandbox: %+v", r)
	}
	// What the CLI sees is unchanged.
	if out := s.ok("ps", "-a", "--format", "{{.Names}}"); !strings.Contains(out, "web") || !strings.Contains(out, "later") {
		t.Fatalf("usandbox ps -a after the API: %q", out)
	}
	s.ok("rm", "-f", "web", "later")
}

// TestDockerAPIService: the socket is the user's alone, the service ends
// when idle and removes its socket, and an unknown path or version gets
// docker's answer.
func TestDockerAPIService(t *testing.T) {
	s := newStore(t)
	host, done := s.service(t, "1")
	sock := strings.TrimPrefix(host, "unix://")
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st, err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/_ping", "OK"},
		{"/v1.99/version", `{"message":"client version 1.99 is too new. Maximum supported API version is 1.41"}`},
		{"/nosuch", `{"message":"page not found"}`},
		{"/v1.41/containers/nosuch/json", `{"message":"No such container: nosuch"}`},
	} {
		out, err := exec.Command("curl", "-s", "--unix-socket", sock, "http://d"+tt.path).Output()
		if err != nil || strings.TrimSpace(string(out)) != tt.want {
			t.Errorf("GET %s: %q %v, want %q", tt.path, out, err, tt.want)
		}
	}
	if err, ok := done(); !ok {
		t.Fatal("the service did not exit after 1 s without a connection")
	} else if err != nil {
		t.Fatalf("the idle service exited with %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("the idle service left its socket: %v", err)
	}
}

// TestDockerAPISocketActivation: the service answers on the socket it is
// given as fd 3 (LISTEN_FDS, as systemd passes it), and leaves the file
// alone (it is systemd's).
func TestDockerAPISocketActivation(t *testing.T) {
	s := newStore(t)
	sock := filepath.Join(s.dir, "activated.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the file stays, as systemd's does
	f, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, env.bin, "--root", s.root, "--runroot", s.runroot, "system", "service", "--time", "1")
	c.ExtraFiles = []*os.File{f}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l.Close() // the service holds its own copy
	out, err := exec.Command("curl", "-s", "--max-time", "5", "--unix-socket", sock, "http://d/_ping").Output()
	if err != nil || string(out) != "OK" {
		t.Errorf("GET /_ping on the passed socket: %q %v", out, err)
	}
	ended := make(chan error, 1)
	go func() { ended <- c.Wait() }()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the activated service exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		t.Fatal("the activated service did not exit when idle")
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("the activated service removed systemd's socket: %v", err)
	}
}
