//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// health is the State.Health of inspect (docker's schema).
func (s *store) health(ref string) (status string, log []map[string]any) {
	s.t.Helper()
	var out []struct {
		State struct {
			Health *struct {
				Status string
				Log    []map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(s.ok("inspect", ref)), &out); err != nil || len(out) != 1 {
		s.t.Fatalf("inspect %s: %v", ref, err)
	}
	if out[0].State.Health == nil {
		return "", nil
	}
	return out[0].State.Health.Status, out[0].State.Health.Log
}

// TestHealthcheck: podman's healthcheck run (exit 1 and "unhealthy" for a
// failing check, 0 and nothing for a passing one), the status in ps and
// inspect, and checks that run on their interval without anyone asking
// (the sandbox's watcher runs them: podman needs systemd's timers).
func TestHealthcheck(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "hc", "--health-cmd", "test -e /tmp/ok", "--health-interval", "1h", "--health-retries", "2", "busybox", "sleep", "1000")
	if ps := s.ok("ps"); !strings.Contains(ps, "(starting)") {
		t.Fatalf("ps before any check:\n%s", ps)
	}
	if r := s.run("healthcheck", "run", "hc"); r.code != 1 || r.stdout != "unhealthy\n" {
		t.Fatalf("failing check: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if st, _ := s.health("hc"); st != "starting" {
		t.Fatalf("one failure of two retries: status %q, want starting", st)
	}
	s.ok("exec", "hc", "touch", "/tmp/ok")
	if r := s.run("healthcheck", "run", "hc"); r.code != 0 || r.stdout != "" {
		t.Fatalf("passing check: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	st, log := s.health("hc")
	if st != "healthy" || len(log) != 2 {
		t.Fatalf("after a pass: status %q, log %v", st, log)
	}
	if ps := s.ok("ps"); !strings.Contains(ps, "(healthy)") {
		t.Fatalf("ps after a pass:\n%s", ps)
	}
	s.ok("rm", "-f", "hc")

	// On its interval, by itself.
	s.ok("run", "-d", "--name", "auto", "--health-cmd", "test -e /tmp/ok", "--health-interval", "1s", "--health-retries", "2", "busybox", "sleep", "1000")
	eventually(t, "unhealthy by itself", func() bool { st, _ := s.health("auto"); return st == "unhealthy" })
	s.ok("exec", "auto", "touch", "/tmp/ok")
	eventually(t, "healthy by itself", func() bool { st, _ := s.health("auto"); return st == "healthy" })

	// A check that outlives its timeout fails, and says so.
	s.ok("run", "-d", "--name", "slow", "--health-cmd", "sleep 100", "--health-timeout", "1s", "--health-interval", "1h", "busybox", "sleep", "1000")
	if r := s.run("healthcheck", "run", "slow"); r.code != 1 || r.stdout != "unhealthy\n" {
		t.Fatalf("timed-out check: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, log := s.health("slow"); len(log) != 1 || !strings.Contains(log[0]["Output"].(string), "exceeded timeout") {
		t.Fatalf("timed-out check's log: %v", log)
	}
	s.ok("rm", "-f", "-a")
}

func TestHealthcheckBadInput(t *testing.T) {
	s := withImages(t, false)
	s.fails(125, "no such", "healthcheck", "run", "nosuch")
	s.ok("run", "-d", "--name", "plain", "busybox", "sleep", "1000")
	s.fails(125, "has no defined healthcheck", "healthcheck", "run", "plain")
	s.ok("create", "--name", "idle", "--health-cmd", "true", "busybox", "true")
	s.fails(125, "not running", "healthcheck", "run", "idle")
	if st, _ := s.health("plain"); st != "" {
		t.Fatalf("a sandbox without a check has health %q", st)
	}
	s.ok("rm", "-f", "-a")
	for _, bad := range [][]string{
		{"--health-cmd", "true", "--health-interval", "often"},
		{"--health-cmd", "true", "--health-retries", "0"},
		{"--health-cmd", "true", "--health-timeout", "-1s"},
		{"--health-cmd", "true", "--health-start-period", "x"},
		{"--health-cmd", "true", "--no-healthcheck"},
	} {
		s.fails(125, "health", append(append([]string{"run", "--rm"}, bad...), "busybox", "true")...)
	}
	s.assertNoSandboxes()
}
