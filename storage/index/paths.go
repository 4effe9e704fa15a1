// Package index is the light side of the image store: where usandbox keeps
// its data, and a small index of the stored images (names, config, layer
// directories) that the runtime reads without linking containers/image or
// containers/storage, whose start-up alone costs more than a whole
// sandbox start. Package storage writes the index after every change.
package index

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
		p.RunRoot = filepath.Join(os.TempDir(), "usandbox-run-"+strconv.Itoa(uid))
	}
	return p, nil
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
