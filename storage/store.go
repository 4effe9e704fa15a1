package storage

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
	"go.podman.io/storage/pkg/idtools"

	"usandbox/storage/index"
)

// Options open a Store.
type Options struct {
	Paths index.Paths
	// IgnoreChownErrors lets layers whose files belong to IDs outside the
	// map be stored anyway (owned by root): the single-ID fallback.
	IgnoreChownErrors bool
	// SkipTLSVerify is OptionalBoolTrue for --tls-verify=false: plain
	// http and unverified certificates are allowed.
	SkipTLSVerify types.OptionalBool
	// Warn prints a one-line warning.
	Warn func(string)
}

// Store is usandbox's image store. It must be used inside the user
// namespace whose root owns it (or as real root).
type Store struct {
	paths  index.Paths
	s      cstorage.Store
	sys    *types.SystemContext
	driver string
	warn   func(string)
}

// driverFile records the graph driver chosen when the store was created,
// so that a later run never silently switches (and hides the images).
const driverFile = "driver"

// Open opens (creating if needed) the store. The first open picks native
// overlay, else fuse-overlayfs (storage's own fallback), else vfs, and
// warns about a fallback.
func Open(o Options) (*Store, error) {
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	if err := o.Paths.Ensure(); err != nil {
		return nil, err
	}
	for _, d := range []string{o.Paths.TmpDir(), o.Paths.LockDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	st := &Store{paths: o.Paths, warn: o.Warn}
	st.sys = &types.SystemContext{
		BlobInfoCacheDir:            filepath.Join(o.Paths.Root, "cache"),
		BigFilesTemporaryDir:        o.Paths.TmpDir(),
		DockerInsecureSkipTLSVerify: o.SkipTLSVerify,
	}

	chosen := ""
	if b, err := os.ReadFile(filepath.Join(o.Paths.Root, driverFile)); err == nil {
		chosen = strings.TrimSpace(string(b))
	}
	var drivers []string
	if chosen != "" {
		drivers = []string{chosen}
	} else {
		drivers = []string{"overlay", "vfs"}
	}
	var firstErr error
	for _, d := range drivers {
		s, err := openDriver(o, d)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		st.s, st.driver = s, d
		break
	}
	if st.s == nil {
		return nil, fmt.Errorf("storage: opening the store in %s: %w", o.Paths.Root, firstErr)
	}
	if chosen == "" {
		if st.driver != "overlay" {
			o.Warn(fmt.Sprintf("native overlay is not usable in %s (%v): using %s, which is slower and uses more disk", o.Paths.Root, firstErr, st.driver))
		} else if st.usesFuse() {
			o.Warn(fmt.Sprintf("native overlay is not usable in %s: using fuse-overlayfs, which is slower", o.Paths.Root))
		}
		if err := os.WriteFile(filepath.Join(o.Paths.Root, driverFile), []byte(st.driver+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	return st, nil
}

func openDriver(o Options, driver string) (cstorage.Store, error) {
	opts := cstorage.StoreOptions{
		RunRoot:         o.Paths.StorageRunRoot(),
		GraphRoot:       o.Paths.StorageRoot(),
		GraphDriverName: driver,
		// The store lives inside the user namespace: its root is ours.
		UIDMap: []idtools.IDMap(nil),
		GIDMap: []idtools.IDMap(nil),
	}
	if o.IgnoreChownErrors {
		opts.GraphDriverOptions = append(opts.GraphDriverOptions, driver+".ignore_chown_errors=true")
	}
	s, err := cstorage.GetStore(opts)
	if err != nil {
		return nil, err
	}
	// GetStore opens the driver lazily on some paths: make it fail here.
	if _, err := s.GraphDriver(); err != nil {
		s.Shutdown(true)
		return nil, err
	}
	return s, nil
}

// usesFuse reports whether the overlay driver fell back to fuse-overlayfs.
func (s *Store) usesFuse() bool {
	b, err := os.ReadFile(filepath.Join(s.paths.StorageRoot(), "overlay", ".has-mount-program"))
	return err == nil && strings.TrimSpace(string(b)) == "true"
}

// Driver is the graph driver in use: "overlay" or "vfs".
func (s *Store) Driver() string { return s.driver }

// Paths returns the store's directories.
func (s *Store) Paths() index.Paths { return s.paths }

// Close releases the store.
func (s *Store) Close() error {
	_, err := s.s.Shutdown(false)
	if errors.Is(err, cstorage.ErrLayerUsedByContainer) {
		return nil
	}
	return err
}

// Reset removes everything under the paths. Run it inside the user
// namespace: files of other IDs in the layers are not the user's to delete.
func Reset(p index.Paths) error {
	for _, d := range []string{p.Root, p.RunRoot} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("storage: removing %s: %w", d, err)
		}
	}
	return nil
}

// layerDir says where a layer's files are, relative to the driver's home.
func (s *Store) layerDir(id string) index.Layer {
	if s.driver == "vfs" {
		return index.Layer{ID: id, Dir: id}
	}
	l := index.Layer{ID: id, Dir: id + "/diff"}
	// storage keeps a short link per layer ("l/ABC…" -> ../ID/diff) so
	// that a long chain fits in the overlay mount options.
	if b, err := os.ReadFile(filepath.Join(s.driverHome(), id, "link")); err == nil {
		l.Link = "l/" + strings.TrimSpace(string(b))
	}
	return l
}

func (s *Store) driverHome() string {
	if s.driver == "vfs" {
		return filepath.Join(s.paths.StorageRoot(), "vfs", "dir")
	}
	return filepath.Join(s.paths.StorageRoot(), s.driver)
}

// WriteIndex rewrites the image index the runtime reads (package index)
// from the store, under a lock. Call it after every change of images.
func (s *Store) WriteIndex() error {
	unlock, err := s.lock("index")
	if err != nil {
		return err
	}
	defer unlock()
	ims, err := s.Images()
	if err != nil {
		return err
	}
	ix := &index.Index{Driver: s.driver, Home: s.driverHome(), Images: ims}
	if s.usesFuse() {
		ix.MountProgram, _ = exec.LookPath("fuse-overlayfs")
	}
	return index.Write(s.paths, ix)
}
