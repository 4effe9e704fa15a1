//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogsOfAttachedRun: an attached run is logged too, as podman's
// conmon logs it, so `logs NAME` shows what it printed, with or without
// a terminal; an --rm run leaves nothing to read.
func TestLogsOfAttachedRun(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("run", "--name", "att", "busybox", "sh", "-c", "echo out; echo err >&2; printf partial"); out != "out\npartial" {
		t.Fatalf("run printed %q", out)
	}
	r := s.run("logs", "att")
	if r.code != 0 || r.stdout != "out\npartial" || r.stderr != "err\n" {
		t.Fatalf("logs att: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	s.ok("run", "--name", "tty", "-t", "busybox", "echo", "on a terminal")
	if out := s.ok("logs", "tty"); out != "on a terminal\r\n" {
		t.Fatalf("logs tty: %q", out)
	}
}

// TestLogDriver: --log-driver none keeps no log and logs says so as
// podman does; k8s-file with --log-opt max-size rotates; bad drivers and
// options are refused before anything is made.
func TestLogDriver(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("run", "-d", "--log-driver", "none", "busybox", "echo", "hi"))
	s.ok("wait", id)
	s.fails(125, "this container is using the 'none' log driver, cannot read logs", "logs", id)
	if _, err := os.Stat(filepath.Join(s.root, "sandboxes", id, "ctr.log")); err == nil {
		t.Fatal("--log-driver none wrote ctr.log")
	}
	s.ok("run", "--name", "none-att", "--log-driver", "none", "busybox", "echo", "hi")
	s.fails(125, "'none' log driver", "logs", "none-att")

	id = strings.TrimSpace(s.ok("run", "-d", "--log-opt", "max-size=2k", "busybox", "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done"))
	s.ok("wait", id)
	fi, err := os.Stat(filepath.Join(s.root, "sandboxes", id, "ctr.log"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 2048 {
		t.Fatalf("max-size=2k: ctr.log is %d bytes", fi.Size())
	}
	if out := s.ok("logs", "--tail", "1", id); out != "line 199\n" {
		t.Fatalf("logs --tail 1 after rotation: %q", out)
	}
	s.ok("rm", "-a")
	for _, bad := range [][]string{
		{"--log-driver", "journald"},
		{"--log-driver", "passthrough"},
		{"--log-opt", "max-size=lots"},
		{"--log-opt", "tag=x"},
		{"--log-driver", "none", "--log-opt", "max-size=1m"},
	} {
		args := append(append([]string{"run", "--rm"}, bad...), "busybox", "true")
		s.fails(125, "log", args...)
	}
	s.assertNoSandboxes()
}
