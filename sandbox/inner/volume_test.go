package inner

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
	"usandbox/volume"
)

// copyUpFixture is a root with /data (files, a subdirectory, symlinks
// out of the root) and a new volume waiting for its copy-up.
func copyUpFixture(t *testing.T) (r *root, m spec.Mount, outside string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("the copy-up keeps owners: needs root (it runs as the root of the sandbox's user namespace)")
	}
	tmp := t.TempDir()
	outside = filepath.Join(tmp, "outside")
	rootDir := filepath.Join(tmp, "root")
	data := filepath.Join(rootDir, "data")
	vol := filepath.Join(tmp, "volumes", "v")
	for _, d := range []string{outside, filepath.Join(data, "sub"), filepath.Join(vol, volume.DataDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	os.WriteFile(filepath.Join(data, "f"), []byte("image"), 0o640)
	os.Chown(filepath.Join(data, "f"), 1000, 1001)
	os.WriteFile(filepath.Join(data, "sub", "g"), []byte("g"), 0o755)
	os.Chmod(filepath.Join(data, "sub", "g"), 0o755|os.ModeSetuid)
	os.Chmod(filepath.Join(data, "sub"), 0o700)
	os.Chown(data, 1000, 1000)
	os.Chmod(data, 0o750)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(data, "abs"))
	os.Symlink("../../../../../../../../"+outside, filepath.Join(data, "up"))
	if err := unix.Mkfifo(filepath.Join(data, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(vol, volume.CopyUpMarker), nil, 0o600)
	r, err := openRoot(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	return r, spec.Mount{Type: "volume", Name: "v", Source: filepath.Join(vol, volume.DataDir), Destination: "/data", CopyUp: true}, outside
}

func ls(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestCopyUp(t *testing.T) {
	r, m, outside := copyUpFixture(t)
	if err := copyUp(r, m); err != nil {
		t.Fatal(err)
	}
	got := ls(t, m.Source)
	if want := []string{"abs", "f", "sub", "up"}; !equal(got, want) { // the fifo is not copied
		t.Fatalf("volume holds %q, want %q", got, want)
	}
	var st unix.Stat_t
	unix.Stat(m.Source, &st)
	if st.Uid != 1000 || st.Mode&0o7777 != 0o750 {
		t.Errorf("the volume's root: uid %d mode %o", st.Uid, st.Mode&0o7777)
	}
	unix.Stat(filepath.Join(m.Source, "f"), &st)
	if st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o640 {
		t.Errorf("f: %d:%d %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	unix.Stat(filepath.Join(m.Source, "sub", "g"), &st)
	if st.Mode&0o7777 != 0o4755 {
		t.Errorf("sub/g lost its setuid bit: %o", st.Mode&0o7777)
	}
	for name, target := range map[string]string{"abs": filepath.Join(outside, "secret"), "up": "../../../../../../../../" + outside} {
		if l, err := os.Readlink(filepath.Join(m.Source, name)); err != nil || l != target {
			t.Errorf("%s: a symlink to %q, got %q %v", name, target, l, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(m.Source), volume.CopyUpMarker)); err == nil {
		t.Error("the marker stayed")
	}
	if got := ls(t, outside); !equal(got, []string{"secret"}) {
		t.Errorf("outside changed: %q", got)
	}
	// Once only: emptied, the volume is not filled again.
	os.RemoveAll(m.Source)
	os.Mkdir(m.Source, 0o755)
	if err := copyUp(r, m); err != nil || len(ls(t, m.Source)) != 0 {
		t.Fatalf("second copy-up: %v %q", err, ls(t, m.Source))
	}
}

// A VOLUME path that is a symlink out of the root is resolved inside
// it; a volume that has files already is never copied into.
func TestCopyUpRefusals(t *testing.T) {
	r, m, outside := copyUpFixture(t)
	root := r.dir.Name()
	os.Symlink(outside, filepath.Join(root, "escape"))
	esc := m
	esc.Destination = "/escape"
	if err := copyUp(r, esc); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, m.Source); len(got) != 0 {
		t.Fatalf("copied from outside the root: %q", got)
	}
	// Still waiting: the next sandbox may have files there.
	if _, err := os.Lstat(filepath.Join(filepath.Dir(m.Source), volume.CopyUpMarker)); err != nil {
		t.Fatal("the marker went with nothing copied")
	}
	os.WriteFile(filepath.Join(m.Source, "mine"), nil, 0o644)
	if err := copyUp(r, m); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, m.Source); !equal(got, []string{"mine"}) {
		t.Fatalf("copied into a volume with files: %q", got)
	}
}

func TestChownTree(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown to other IDs needs root")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f"), nil, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	if err := chownTree(dir, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "a", "b", "f"), filepath.Join(dir, "link")} {
		var st unix.Stat_t
		unix.Lstat(p, &st)
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: %d:%d", p, st.Uid, st.Gid)
		}
	}
	var st unix.Stat_t
	unix.Stat("/etc/passwd", &st)
	if st.Uid != 0 {
		t.Fatal("chownTree followed a symlink")
	}
	if err := chownTree(filepath.Join(dir, "link"), 1, 1); err == nil {
		t.Fatal("chownTree took a symlink for its source")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
