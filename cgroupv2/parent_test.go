package cgroupv2

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fakeTree makes mount/a/b as a cgroup directory whose cgroup.procs holds
// pids.
func fakeTree(t *testing.T, pids ...int) *Info {
	mount := t.TempDir()
	for _, d := range []string{"a", "a/b"} {
		dir := filepath.Join(mount, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"cgroup.procs", "cgroup.subtree_control"} {
			os.WriteFile(filepath.Join(dir, f), nil, 0o644)
		}
	}
	var procs []byte
	for _, p := range pids {
		procs = append(procs, []byte(strconv.Itoa(p)+"\n")...)
	}
	os.WriteFile(filepath.Join(mount, "a/b/cgroup.procs"), procs, 0o644)
	return &Info{Layout: Unified, Mount: mount, Path: "/a/b"}
}

func TestParentDir(t *testing.T) {
	// A delegated cgroup holding only us (a systemd scope): divide it.
	i := fakeTree(t, os.Getpid())
	if got := i.parentDir(); got != i.Dir() {
		t.Errorf("own scope: parent %s, want %s", got, i.Dir())
	}
	// Other processes in it (a session): its delegated parent.
	i = fakeTree(t, os.Getpid(), 1)
	if got := i.parentDir(); got != filepath.Dir(i.Dir()) {
		t.Errorf("shared cgroup: parent %s, want %s", got, filepath.Dir(i.Dir()))
	}
	if i.NeedScope() {
		t.Error("a delegated parent needs no scope")
	}
	// Hybrid hosts never divide anything.
	i = fakeTree(t, os.Getpid())
	i.Layout = Hybrid
	if i.ownDelegated() {
		t.Error("hybrid counted as delegated")
	}
	args := ScopeArgs([]string{"/bin/usandbox", "run", "x"})
	if args[0] != "systemd-run" || args[len(args)-3] != "/bin/usandbox" {
		t.Errorf("scope args %v", args)
	}
}
