//go:build integration

package integration

import (
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sandboxLeftovers lists the processes of ours (see ourProcesses) that a
// sandbox may leave: usandbox itself (its monitor, the keeper, the init),
// the network helpers, and the test's "sleep 5".
func sandboxLeftovers() []string {
	var out []string
	for _, pid := range ourProcesses() {
		cl := cmdline(pid)
		if cl == "" {
			continue // a zombie
		}
		argv := strings.Split(cl, "\x00")
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		switch base := filepath.Base(argv[0]); {
		case strings.HasPrefix(exe, env.bin), strings.HasPrefix(base, "usandbox"),
			base == "slirp4netns", base == "pasta", strings.Contains(cl, "sleep\x005"):
			out = append(out, strconv.Itoa(pid)+" "+strings.ReplaceAll(strings.TrimSuffix(cl, "\x00"), "\x00", " "))
		}
	}
	return out
}

// assertNoRunState checks that the run root holds no network state and no
// lock of a sandbox.
func (s *store) assertNoRunState() {
	s.t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(s.runroot, "net")); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		s.t.Errorf("network state left in the run root: %v", names)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.runroot, "locks")); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		s.t.Errorf("lock files left in the run root: %v", names)
	}
}

// TestKilledRunRmReclaimed: kill -9 of `run --rm` at any moment leaves
// nothing that the next usandbox command does not reclaim (it left network
// state directories, and a record when killed between Create and Start).
func TestKilledRunRmReclaimed(t *testing.T) {
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Skip("slirp4netns is not installed")
	}
	s := withImages(t, false)
	for i := 0; i < 30; i++ {
		c := s.cmd("run", "--rm", "--network", "slirp4netns", "busybox", "sleep", "5")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Intn(300)) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
	}
	// The sandboxes end with their watcher (the lifeline); their keepers
	// clean up and exit.
	deadline := time.Now().Add(30 * time.Second)
	for len(sandboxLeftovers()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes left after the kills:\n%s", strings.Join(sandboxLeftovers(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ps := s.ok("ps", "-a", "-q"); ps != "" {
		t.Errorf("ps -a lists killed --rm sandboxes:\n%s", ps)
	}
	s.assertNoRunState()
	s.assertNoSandboxes()
}

// TestDamagedRecord: a sandbox whose record is cut short is listed as
// Unknown, inspect says why, and rm (rm -f if it runs) removes it (it was
// hidden from ps -a, and rm said "no such sandbox").
func TestDamagedRecord(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "--name", "done", "busybox", "true")
	stopped := s.inspect("done").ID
	running := strings.TrimSpace(s.ok("run", "-d", "busybox", "sleep", "1234"))
	for _, id := range []string{stopped, running} {
		cfg := filepath.Join(s.root, "sandboxes", id, "config.json")
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, b[:len(b)/2], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ps := s.ok("ps", "-a")
	for _, id := range []string{stopped, running} {
		if !regexp.MustCompile(`(?m)^` + id[:12] + `\s.*Unknown`).MatchString(ps) {
			t.Fatalf("ps -a does not show %s as Unknown:\n%s", id[:12], ps)
		}
	}
	var in []struct {
		ID    string `json:"Id"`
		State struct {
			Status, Error string
			Running       bool
		}
	}
	if err := json.Unmarshal([]byte(s.ok("inspect", stopped[:12])), &in); err != nil || len(in) != 1 {
		t.Fatalf("inspect: %v %v", in, err)
	}
	if st := in[0].State; in[0].ID != stopped || st.Status != "unknown" || !strings.Contains(st.Error, "config.json") {
		t.Fatalf("inspect of the damaged sandbox: %+v", in[0])
	}
	s.fails(125, "damaged", "start", stopped[:12])
	s.fails(2, "stop it first, or use rm -f", "rm", running[:12]) // podman: 2
	s.ok("rm", stopped[:12])
	s.ok("rm", "-f", running[:12])
	waitFor(t, "no sleep left", func() bool { return sleepers() == 0 })
	s.assertNoSandboxes()
}

// TestSystemCheck: system check reports a store's inconsistencies, one
// line each, and exits 1; --repair mends them (removing sub-ID files
// through the user namespace) and exits 0; a clean store is silent.
func TestSystemCheck(t *testing.T) {
	s := withImages(t, false)
	// Files of a sub-ID that this user cannot remove outside the
	// user namespace: a directory of uid 1 holding a file.
	subID := "mkdir -p /d && touch /d/f && chown -R 1:1 /d"
	s.ok("run", "--name", "healthy", "busybox", "true")
	running := strings.TrimSpace(s.ok("run", "-d", "--name", "running", "busybox", "sleep", "1234"))
	ids := map[string]string{}
	for _, name := range []string{"nolayers", "norecord", "leftover", "damaged"} {
		s.ok("run", "--name", name, "busybox", "sh", "-c", subID)
		ids[name] = s.inspect(name).ID
	}
	dir := func(name string) string { return filepath.Join(s.root, "sandboxes", ids[name]) }
	// The lower layers are gone.
	cfg := filepath.Join(dir("nolayers"), "config.json")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec["Spec"].(map[string]any)["rootfs"].(map[string]any)["lowers"] = []string{"l/NO-SUCH-LAYER"}
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(cfg, b, 0o600))
	// No record; an --rm sandbox whose keeper died before removing its
	// upper layer; a record cut short.
	must(os.Remove(filepath.Join(dir("norecord"), "config.json")))
	must(os.WriteFile(filepath.Join(dir("leftover"), "autoremove"), nil, 0o600))
	b, err = os.ReadFile(filepath.Join(dir("damaged"), "config.json"))
	must(err)
	must(os.WriteFile(filepath.Join(dir("damaged"), "config.json"), b[:40], 0o600))
	// Run-root state of sandboxes that are gone or not running.
	must(os.MkdirAll(filepath.Join(s.runroot, "net", ids["nolayers"][:12]), 0o700))
	must(os.MkdirAll(filepath.Join(s.runroot, "net", "0123456789ab"), 0o700))
	must(os.MkdirAll(filepath.Join(s.runroot, "locks"), 0o700))
	gone := strings.Repeat("0", 64)
	must(os.WriteFile(filepath.Join(s.runroot, "locks", gone+".lock"), nil, 0o600))

	r := s.run("system", "check")
	t.Logf("system check:\n%s", r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 1 || len(lines) != 7 {
		t.Fatalf("system check: exit %d, %d lines, want 1 and 7:\n%s\nstderr: %s", r.code, len(lines), r.stdout, r.stderr)
	}
	for _, want := range []string{ids["nolayers"][:12], ids["norecord"][:12], ids["leftover"][:12], ids["damaged"][:12], "0123456789ab", gone[:12]} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("system check does not mention %s:\n%s", want, r.stdout)
		}
	}
	if len(s.sandboxes()) != 6 {
		t.Fatalf("system check without --repair changed the store: %v", s.sandboxes())
	}
	r = s.run("system", "check", "--repair")
	t.Logf("system check --repair:\n%s", r.stdout)
	if r.code != 0 || strings.Count(r.stdout, "repaired") != 7 {
		t.Fatalf("system check --repair: exit %d\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := s.run("system", "check"); r.code != 0 || r.stdout != "" {
		t.Fatalf("system check after the repair: exit %d\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	left := s.sandboxes()
	if len(left) != 2 || !s.inspect("running").State.Running || s.inspect("healthy").State.Status != "exited" {
		t.Fatalf("the repair touched sound sandboxes: %v", left)
	}
	s.ok("rm", "-f", running)
	waitFor(t, "no sleep left", func() bool { return sleepers() == 0 })
	waitFor(t, "the running sandbox's network state to go", func() bool {
		ents, _ := os.ReadDir(filepath.Join(s.runroot, "net"))
		return len(ents) == 0
	})
	s.assertNoRunState()
}
