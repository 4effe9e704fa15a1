package inner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
)

// fakeStore lays out n overlay layers as storage does (ID/diff, with a
// 26-character link l/NAME to each) and a sandbox directory with paths as
// long as the real ones, and returns the spec's Rootfs and StateDir.
func fakeStore(t *testing.T, n int) *spec.Spec {
	t.Helper()
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home/user/.local/share/usandbox/storage/overlay")
	if err := os.MkdirAll(filepath.Join(home, "l"), 0o700); err != nil {
		t.Fatal(err)
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	lowers := make([]string, n)
	for i := range n {
		id := sum(fmt.Sprint("layer", i))
		diff := filepath.Join(home, id, "diff")
		if err := os.MkdirAll(diff, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{fmt.Sprintf("layer-%d", i), "top"} {
			if err := os.WriteFile(filepath.Join(diff, f), []byte(fmt.Sprint(i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		link := strings.ToUpper(sum(id))[:26]
		if err := os.Symlink("../"+id+"/diff", filepath.Join(home, "l", link)); err != nil {
			t.Fatal(err)
		}
		lowers[n-1-i] = "l/" + link // top first
	}
	dir := filepath.Join(tmp, "run/user/1001/usandbox/sandboxes", sum("sandbox"))
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return &spec.Spec{StateDir: dir, AutoRemove: true, Rootfs: spec.Rootfs{
		Home: home, Lowers: lowers, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), Target: filepath.Join(dir, "rootfs"),
	}}
}

// inMountNS runs f on a thread of its own in a new mount namespace (which
// also gives it its own working directory); the thread dies afterwards.
func inMountNS(t *testing.T, f func() error) error {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounting an overlay in a private mount namespace needs root (go test as root)")
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			done <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			done <- err
			return
		}
		done <- f()
	}()
	return <-done
}

// The legacy mount (kernels before 6.8: one option string, at most a page)
// takes as many layers as the new API: overlay's own limit.
func TestMountRootfsLegacyManyLayers(t *testing.T) {
	for _, n := range []int{1, 139, 200, maxLayers} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := fakeStore(t, n)
			err := inMountNS(t, func() error {
				if err := mountRootfsLegacy(s); err != nil {
					return err
				}
				defer unix.Unmount(s.Rootfs.Target, unix.MNT_DETACH)
				top, err := os.ReadFile(filepath.Join(s.Rootfs.Target, "top"))
				if err != nil {
					return err
				}
				if string(top) != fmt.Sprint(n-1) {
					return fmt.Errorf("/top holds %q, want the top layer's %d", top, n-1)
				}
				_, err = os.Stat(filepath.Join(s.Rootfs.Target, "layer-0"))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMountRootfsTooManyLayers(t *testing.T) {
	s := fakeStore(t, maxLayers+1)
	err := inMountNS(t, func() error { return mountRootfs(s) })
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(maxLayers)) || !strings.Contains(err.Error(), "squash") {
		t.Fatalf("mounting %d layers: %v, want an error that names the limit and what to do", maxLayers+1, err)
	}
}

// /dev and what is in it (devices, devpts, shm, mqueue, symlinks) are
// made wherever the image's /dev points, inside the root: an image whose
// /dev names a directory of the host gets them inside its root.
func TestMountDevStaysInside(t *testing.T) {
	base := t.TempDir()
	dir, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "dev")); err != nil {
		t.Fatal(err)
	}
	err := inMountNS(t, func() error {
		r, err := openRoot(dir)
		if err != nil {
			return err
		}
		defer r.close()
		if err := mountDev(r, &spec.Spec{}); err != nil {
			return err
		}
		inside := filepath.Join(dir, outside)
		defer unix.Unmount(inside, unix.MNT_DETACH)
		var null unix.Stat_t
		if err := unix.Stat(filepath.Join(inside, "null"), &null); err != nil || null.Rdev != unix.Mkdev(1, 3) {
			return fmt.Errorf("no null device in /dev inside (%v)", err)
		}
		for name, magic := range map[string]int64{"pts": unix.DEVPTS_SUPER_MAGIC, "shm": unix.TMPFS_MAGIC, "mqueue": 0x19800202} {
			var st unix.Statfs_t
			if err := unix.Statfs(filepath.Join(inside, name), &st); err != nil || st.Type != magic {
				return fmt.Errorf("/dev/%s inside: filesystem %#x (%v), want %#x", name, st.Type, err, magic)
			}
		}
		for link, target := range devLinks {
			if got, err := os.Readlink(filepath.Join(inside, link)); err != nil || got != target {
				return fmt.Errorf("/dev/%s inside: %q, %v; want a link to %s", link, got, err, target)
			}
		}
		var st unix.Statfs_t
		if err := unix.Statfs(inside, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
			return fmt.Errorf("no tmpfs on %s (%v)", inside, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("HOLE: %s, outside the root, now holds %v", outside, ents)
	}
}
