// Package index is the light side of the image store: where usandbox keeps
// its data, and a small index of the stored images (names, config, layer
// directories) that the runtime reads without linking containers/image or
// containers/storage, whose start-up alone costs more than a whole
// sandbox start. Package storage writes the index after every change.
package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Paths are where usandbox keeps its data.
type Paths struct {
	// Root holds images, layers and sandbox records: persistent.
	Root string
	// RunRoot holds runtime state (locks, pids): it may vanish at reboot.
	RunRoot string
}

// DefaultPaths follows the XDG base directory spec:
// $XDG_DATA_HOME/usandbox (default ~/.local/share/usandbox) and
// $XDG_RUNTIME_DIR/usandbox. Without XDG_RUNTIME_DIR (su sessions) the run
// root is /tmp/usandbox-run-UID, created private to the user. Real root
// uses /var/lib/usandbox and /run/usandbox unless XDG variables are set.
// hostUID is the user's uid on the host (inside the user namespace
// os.Getuid is 0 for everybody).
func DefaultPaths(hostUID int) (Paths, error) {
	var p Paths
	uid := hostUID
	switch data := os.Getenv("XDG_DATA_HOME"); {
	case data != "":
		p.Root = filepath.Join(data, "usandbox")
	case uid == 0:
		p.Root = "/var/lib/usandbox"
	default:
		home, err := os.UserHomeDir()
		if err != nil {
			return p, fmt.Errorf("storage: no XDG_DATA_HOME and no home directory: %w", err)
		}
		p.Root = filepath.Join(home, ".local", "share", "usandbox")
	}
	switch run := os.Getenv("XDG_RUNTIME_DIR"); {
	case run != "":
		p.RunRoot = filepath.Join(run, "usandbox")
	case uid == 0:
		p.RunRoot = "/run/usandbox"
	default:
		p.RunRoot = TempRunRoot(uid)
	}
	return p, nil
}

// TempRunRoot is the run root without XDG_RUNTIME_DIR: in the shared,
// world-writable temporary directory, so it must be checked before use
// (PrivateDir).
func TempRunRoot(uid int) string {
	return filepath.Join(os.TempDir(), "usandbox-run-"+strconv.Itoa(uid))
}

// PrivateDir creates dir (mode 0700) if it is missing and checks that it
// is a real directory (not a symlink), owned by uid, with no access for
// anyone else: in a world-writable parent another user could have made it
// first, to see or change usandbox's state. The check is made on the
// opened directory, with no symlink followed.
func PrivateDir(dir string, uid int) error {
	fix := "remove it, or set XDG_RUNTIME_DIR (or --runroot) to a directory of your own"
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating the run root %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("the run root %s is not a directory of yours (a symlink or a file): %s", dir, fix)
		}
		return fmt.Errorf("opening the run root %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("checking the run root %s: %w", dir, err)
	}
	if int(st.Uid) != uid {
		return fmt.Errorf("the run root %s belongs to uid %d, not to you (uid %d): %s", dir, st.Uid, uid, fix)
	}
	if st.Mode&0o077 != 0 {
		return fmt.Errorf("the run root %s has mode %04o, others may use it: %s (or chmod 700 it)", dir, st.Mode&0o7777, fix)
	}
	return nil
}

// Ensure creates the directories, private to the user, and checks that a
// run root outside XDG_RUNTIME_DIR is really ours (it lives in a
// world-writable /tmp).
func (p Paths) Ensure() error {
	for _, d := range []string{p.Root, p.RunRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("storage: %s is not a directory", d)
		}
	}
	return nil
}

// StorageRoot is containers/storage's graph root.
func (p Paths) StorageRoot() string { return filepath.Join(p.Root, "storage") }

// StorageRunRoot is containers/storage's run root.
func (p Paths) StorageRunRoot() string { return filepath.Join(p.RunRoot, "storage") }

// TmpDir is for temporary files of a pull, on the store's filesystem.
func (p Paths) TmpDir() string { return filepath.Join(p.Root, "tmp") }

// LockDir holds lock files.
func (p Paths) LockDir() string { return filepath.Join(p.Root, "locks") }

// SandboxesUsing names the sandboxes whose record says they were made
// from the image id: what rmi must not pull from under them. It reads the
// records' Id, Name and ImageId only (package sandbox owns the format).
// A record that cannot be read counts as using the image: better to
// refuse than to leave a sandbox whose layers are gone.
func SandboxesUsing(p Paths, id string) []string {
	base := filepath.Join(p.Root, "sandboxes")
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(base, e.Name(), "config.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var rec struct{ Id, Name, ImageId string }
		if err != nil || json.Unmarshal(b, &rec) != nil {
			out = append(out, e.Name()[:min(12, len(e.Name()))]+" (unreadable record)")
			continue
		}
		if rec.ImageId == id {
			out = append(out, rec.Name+" ("+rec.Id[:min(12, len(rec.Id))]+")")
		}
	}
	return out
}
