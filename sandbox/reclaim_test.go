package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"usandbox/storage/index"
)

// TestReclaimStale: what reclaimStale removes is told by the sandbox's
// lock and names alone.
func TestReclaimStale(t *testing.T) {
	tmp := t.TempDir()
	p := index.Paths{Root: filepath.Join(tmp, "root"), RunRoot: filepath.Join(tmp, "run")}
	id := func(c byte) string { return strings.Repeat(string(c), 64) }
	mk := func(name string, files ...string) string {
		dir := filepath.Join(p.Root, "sandboxes", name)
		if err := os.MkdirAll(filepath.Join(dir, "upper"), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	hold := func(dir string) {
		f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
	}
	keep := map[string]bool{}
	// Removed: an ended --rm sandbox (free lock), one killed between
	// Create and Start by an older usandbox (no lock file), a killed Create.
	mk(id('a'), configFile, "autoremove", lockFile)
	mk(id('b'), configFile, "autoremove")
	mk(creatingPrefix+id('c'), lockFile)
	// Kept: a running --rm sandbox, a stopped kept one, one that lost its
	// record (system check's), a Create under way.
	hold(mk(id('d'), configFile, "autoremove"))
	keep[id('d')] = true
	mk(id('e'), configFile, lockFile)
	keep[id('e')] = true
	mk(id('f'), lockFile)
	keep[id('f')] = true
	hold(mk(creatingPrefix + id('g')))
	keep[creatingPrefix+id('g')] = true
	// Run-root state: only the running sandbox's network stays; the
	// operation lock of a gone sandbox goes, a held one and one of a
	// sandbox that exists stay.
	for _, n := range []string{id('a')[:12], id('d')[:12], id('e')[:12], "0123456789ab"} {
		if err := os.MkdirAll(filepath.Join(p.RunRoot, "net", n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	locks := filepath.Join(p.RunRoot, "locks")
	os.MkdirAll(locks, 0o700)
	for _, n := range []string{id('x'), id('y'), id('e')} {
		os.WriteFile(filepath.Join(locks, n+".lock"), nil, 0o600)
	}
	held, err := os.OpenFile(filepath.Join(locks, id('y')+".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	unix.Flock(int(held.Fd()), unix.LOCK_EX)

	if err := Reclaim(p); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(p.Root, "sandboxes"))
	got := map[string]bool{}
	for _, e := range ents {
		got[e.Name()] = true
	}
	for n := range keep {
		if !got[n] {
			t.Errorf("removed %s", n[:24])
		}
	}
	for n := range got {
		if !keep[n] {
			t.Errorf("kept %s", n[:24])
		}
	}
	nets, _ := os.ReadDir(filepath.Join(p.RunRoot, "net"))
	if len(nets) != 1 || nets[0].Name() != id('d')[:12] {
		t.Errorf("network state left: %v, want only the running sandbox's", nets)
	}
	ls, _ := os.ReadDir(locks)
	var names []string
	for _, e := range ls {
		names = append(names, e.Name()[:1])
	}
	if strings.Join(names, ",") != "e,y" {
		t.Errorf("operation locks left: %v, want e (its sandbox exists) and y (held)", names)
	}
}
