//go:build integration

package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDockerAPITestcontainers: testcontainers-go (the test binary of the
// module integration/testcontainers, built by make as bin/tc.test and
// passed as USANDBOX_TC_TEST) runs a busybox httpd through the service:
// a wait strategy on a published port, exec, logs, terminate. Nothing is
// left in the store afterwards.
func TestDockerAPITestcontainers(t *testing.T) {
	bin := os.Getenv("USANDBOX_TC_TEST")
	if bin == "" {
		t.Skip("USANDBOX_TC_TEST is not set (hack/integration.sh passes bin/tc.test, which make build-tests builds)")
	}
	s := withImages(t, false)
	host, _ := s.service(t, "0")
	c := exec.Command(bin, "-test.v", "-test.count=1", "-test.timeout=5m")
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "USANDBOX_TC_HOST="+host,
		"TESTCONTAINERS_RYUK_DISABLED=true", "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir())
	c.Dir = t.TempDir()
	// A machine that is itself a docker container (/.dockerenv, as CI's
	// is) makes testcontainers dial the default network's gateway, as a
	// test beside a docker daemon's containers would; usandbox publishes
	// ports on this machine's addresses, where testcontainers dials
	// "localhost" on any other machine.
	if _, err := os.Stat("/.dockerenv"); err == nil {
		t.Log("/.dockerenv exists: TESTCONTAINERS_HOST_OVERRIDE=localhost")
		c.Env = append(c.Env, "TESTCONTAINERS_HOST_OVERRIDE=localhost")
	}
	out, err := c.CombinedOutput()
	t.Logf("testcontainers test:\n%s", out)
	if err != nil {
		t.Fatalf("the testcontainers test failed: %v", err)
	}
	// It ran (a skip would also exit 0).
	if !strings.Contains(string(out), "--- PASS: TestHTTPServer") {
		t.Fatal("TestHTTPServer did not pass")
	}
	if got := s.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("sandboxes left after Terminate: %q", got)
	}
}
