// Package testcontainers_test drives usandbox's Docker Engine API (usandbox
// system service) with testcontainers-go, as a Go test suite would. It is
// a module of its own so that testcontainers' dependencies stay out of the
// usandbox binaries' module graph.
//
// The integration suite (integration/testcontainers_test.go) builds no
// service itself here: it starts one on a fresh store with busybox and runs
// this test binary with USANDBOX_TC_HOST and DOCKER_HOST set to its socket
// and TESTCONTAINERS_RYUK_DISABLED=true.
package testcontainers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"
)

// service is the DOCKER_HOST of a usandbox system service; the test skips
// without one (it needs the integration suite to start it).
func service(t *testing.T) {
	t.Helper()
	host := os.Getenv("USANDBOX_TC_HOST")
	if host == "" {
		t.Skip("USANDBOX_TC_HOST is not set: the integration suite (TestDockerAPITestcontainers) runs this test against a usandbox system service it starts")
	}
	if os.Getenv("DOCKER_HOST") != host {
		t.Fatalf("DOCKER_HOST=%q, want USANDBOX_TC_HOST=%q", os.Getenv("DOCKER_HOST"), host)
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") != "true" {
		t.Fatal("TESTCONTAINERS_RYUK_DISABLED must be true: usandbox runs no reaper container")
	}
}

// TestHTTPServer: a busybox httpd behind a published port, waited for by
// an HTTP wait strategy, reached from the test, exec'd into, its logs read,
// and terminated.
func TestHTTPServer(t *testing.T) {
	service(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const page = "hello from usandbox\n"
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        "busybox",
			Cmd:          []string{"sh", "-c", `mkdir -p /www && echo 'hello from usandbox' > /www/index.html && echo httpd starting && exec httpd -f -p 8080 -h /www`},
			ExposedPorts: []string{"8080/tcp"},
			WaitingFor:   wait.ForHTTP("/").WithPort("8080/tcp").WithStartupTimeout(30 * time.Second),
		},
		Started: true,
	})
	// Terminated even if the start failed half-way (testcontainers'
	// advice: the container may exist).
	t.Cleanup(func() {
		if ctr != nil {
			if err := testcontainers.TerminateContainer(ctr); err != nil {
				t.Errorf("terminate in cleanup: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatalf("GenericContainer: %v", err)
	}

	host, err := ctr.Host(ctx)
	if err != nil {
		t.Fatalf("Host: %v", err)
	}
	port, err := ctr.MappedPort(ctx, "8080/tcp")
	if err != nil {
		t.Fatalf("MappedPort: %v", err)
	}
	if port.Num() == 0 {
		t.Fatalf("MappedPort: %v", port)
	}
	t.Logf("host %s, 8080/tcp on %s", host, port)
	// The published port is on the host's loopback.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port.Num()))
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != page {
		t.Fatalf("GET: %d %q %v, want 200 %q", resp.StatusCode, body, err, page)
	}

	code, r, err := ctr.Exec(ctx, []string{"echo", "exec", "output"}, tcexec.Multiplexed())
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil || code != 0 || string(out) != "exec output\n" {
		t.Fatalf("Exec echo: code %d, output %q, %v; want 0 %q", code, out, err, "exec output\n")
	}
	code, _, err = ctr.Exec(ctx, []string{"sh", "-c", "exit 3"})
	if err != nil || code != 3 {
		t.Fatalf("Exec exit 3: code %d, %v", code, err)
	}

	logs, err := ctr.Logs(ctx)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	var lb bytes.Buffer
	_, err = io.Copy(&lb, logs)
	logs.Close()
	if err != nil || !strings.Contains(lb.String(), "httpd starting") {
		t.Fatalf("Logs: %q %v, want a line httpd starting", lb.String(), err)
	}

	if err := ctr.Terminate(ctx); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	ctr = nil
	// The port is closed with the sandbox.
	c := http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port.Num())); err == nil {
		resp.Body.Close()
		t.Fatalf("GET after Terminate answered %d", resp.StatusCode)
	}
}
