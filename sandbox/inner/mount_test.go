package inner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountOptions(t *testing.T) {
	for _, tt := range []struct {
		in    string
		opts  []string
		attrs int
	}{
		{"", nil, 0},
		{"size=1m,mode=1777", []string{"size=1m", "mode=1777"}, 0},
		{"ro,noexec,size=64m", []string{"size=64m"}, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOEXEC},
		{"rw,nosuid,nodev,exec", nil, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV},
		{"uid=1000,gid=1000,noatime", []string{"uid=1000", "gid=1000"}, unix.MOUNT_ATTR_NOATIME},
	} {
		opts, attrs, err := mountOptions(tt.in)
		if err != nil || !slices.Equal(opts, tt.opts) || attrs != tt.attrs {
			t.Errorf("mountOptions(%q) = %q, %#x, %v; want %q, %#x", tt.in, opts, attrs, err, tt.opts, tt.attrs)
		}
	}
}

// TestTargetStaysInside: whatever the image's symlinks say, a mount target
// is created and opened inside the root, and nothing appears outside it.
// outside is a directory of the host next to the root: every symlink
// below names it (absolutely, or climbing out), which inside the root is
// dangling, so target must make it there.
func TestTargetStaysInside(t *testing.T) {
	base := t.TempDir()
	dir, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{dir + "/run", dir + "/etc", outside + "/sub"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/hosts"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	climb := strings.Repeat("../", 12)
	for name, target := range map[string]string{
		"abs":      outside,                    // the host's path, dangling inside
		"up":       climb + "outside",          // relative, out of the root and beyond
		"absup":    "/" + climb + outside[1:],  // absolute, with ".." at the top
		"chain":    "abs",                      // a link to a link
		"dotdot":   "etc/" + climb + "outside", // ".." through a real directory
		"varrun":   "/run",                     // an ordinary link to a directory
		"hostfile": outside + "/sub/file",      // a file mount's dangling target
		"hosts":    "/etc/hosts",               // a file that is there
		"loop":     "loop",                     // never resolves
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	in := func(p string) string { return filepath.Join(dir, p) }
	for _, tt := range []struct {
		dest string
		file bool
		want string // where the opened target is, "" for an error
	}{
		{"/abs/vol", false, in(outside + "/vol")},
		{"/up/vol", false, in("/outside/vol")},
		{"/absup/sub/vol", false, in(outside + "/sub/vol")},
		{"/chain/x/y", false, in(outside + "/x/y")},
		{"/dotdot/vol", false, in("/outside/vol")},
		{"/varrun/vol", false, in("/run/vol")},
		{"/../../../abs", false, in(outside)},
		{"/hostfile", true, in(outside + "/sub/file")},
		{"/abs/sub/file", true, in(outside + "/sub/file")},
		{"/hosts", true, in("/etc/hosts")},
		{"/etc/new", true, in("/etc/new")},
		{"/loop/vol", false, ""},
		{"/", false, dir},
	} {
		r, err := openRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		f, err := r.target(tt.dest, tt.file)
		r.close()
		if tt.want == "" {
			if err == nil {
				t.Errorf("target(%q) = %s, want an error", tt.dest, f.Name())
				f.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("target(%q, file %v): %v", tt.dest, tt.file, err)
			continue
		}
		got, err := os.Readlink(fdPath(int(f.Fd())))
		var st unix.Stat_t
		if err == nil {
			err = unix.Fstat(int(f.Fd()), &st)
		}
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("target(%q) opened %s, want %s", tt.dest, got, tt.want)
		}
		if isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; isDir == tt.file {
			t.Errorf("target(%q, file %v) opened a %o", tt.dest, tt.file, st.Mode&unix.S_IFMT)
		}
	}
	ents, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "sub" {
		t.Errorf("HOLE: %s, outside the root, now holds %v", outside, ents)
	}
	if ents, _ := os.ReadDir(outside + "/sub"); len(ents) != 0 {
		t.Errorf("HOLE: %s/sub, outside the root, now holds %v", outside, ents)
	}
}

// A user's mount may not land on procfs or sysfs.
func TestCheckTarget(t *testing.T) {
	for _, tt := range []struct {
		path string
		ok   bool
	}{{"/proc", false}, {"/proc/sys", false}, {"/sys", false}, {t.TempDir(), true}} {
		f, err := os.OpenFile(tt.path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = checkTarget(int(f.Fd()), tt.path)
		f.Close()
		if (err == nil) != tt.ok {
			t.Errorf("checkTarget(%s) = %v, want ok %v", tt.path, err, tt.ok)
		}
	}
}
