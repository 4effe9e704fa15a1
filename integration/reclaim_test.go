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
	s.fails(125, "stop it first, or use rm -f", "rm", running[:12])
	s.ok("rm", stopped[:12])
	s.ok("rm", "-f", running[:12])
	waitFor(t, "no sleep left", func() bool { return sleepers() == 0 })
	s.assertNoSandboxes()
}
