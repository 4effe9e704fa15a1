//go:build integration

package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDockerAPICompose: Debian's docker-compose 1.29 brings up a project
// of two services through the service: a web server with a named volume
// and a published port, and a client that reaches it by service name;
// ps, logs and exec see them; down -v leaves no sandbox, network or
// volume.
func TestDockerAPICompose(t *testing.T) {
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("no docker-compose on PATH (hack/deps.sh installs Debian's docker-compose)")
	}
	s := withImages(t, false)
	host, _ := s.service(t, "0")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	yml := fmt.Sprintf(`version: "3"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && echo web-started && exec httpd -f -p 8080 -h /www"]
    ports: ["%d:8080"]
    volumes: ["data:/data"]
  client:
    image: busybox
    command: ["sh", "-c", "until wget -q -O - http://web:8080/; do sleep 0.2; done; sleep 600"]
    depends_on: [web]
volumes:
  data:
`, port)
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	dc := func(args ...string) result {
		t.Helper()
		c := exec.Command(compose, append([]string{"-p", "proj", "--no-ansi"}, args...)...)
		c.Dir = dir
		c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir(), "COMPOSE_INTERACTIVE_NO_CLI=1")
		r, err := capture(c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Cleanup(func() { dc("down", "-v", "-t", "1") })
	if r := dc("up", "-d"); r.code != 0 {
		t.Fatalf("docker-compose up -d: %+v", r)
	}
	if r := dc("ps"); r.code != 0 || !strings.Contains(r.stdout, "proj_web_1") || !strings.Contains(r.stdout, "proj_client_1") || !strings.Contains(r.stdout, fmt.Sprintf("%d->8080/tcp", port)) {
		t.Fatalf("docker-compose ps: %+v", r)
	}
	waitForUpTo(t, 20*time.Second, "the client to reach the web service by name", func() bool {
		return strings.Contains(dc("logs", "client").stdout, "hello-from-web")
	})
	if r := dc("logs", "web"); r.code != 0 || !strings.Contains(r.stdout, "web-started") {
		t.Fatalf("docker-compose logs web: %+v", r)
	}
	if r := dc("exec", "-T", "web", "sh", "-c", "echo kept > /data/f; cat /www/index.html"); r.code != 0 || r.stdout != "hello-from-web\n" {
		t.Fatalf("docker-compose exec: %+v", r)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("the published port: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello-from-web\n" {
		t.Fatalf("the published port answered %q", body)
	}
	if got := s.ok("volume", "ls", "--format", "{{.Name}}"); got != "proj_data\n" {
		t.Fatalf("usandbox volume ls during the project: %q", got)
	}
	if r := dc("down", "-v", "-t", "1"); r.code != 0 {
		t.Fatalf("docker-compose down -v: %+v", r)
	}
	if got := s.ok("ps", "-aq"); got != "" {
		t.Fatalf("down left sandboxes: %q", got)
	}
	if got := s.ok("volume", "ls", "-q"); got != "" {
		t.Fatalf("down -v left volumes: %q", got)
	}
	if got := s.ok("network", "ls", "--format", "{{.Name}}"); got != "bridge\n" {
		t.Fatalf("down left networks: %q", got)
	}
	s.assertNoNetworkLeft()
}
