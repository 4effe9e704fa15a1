// Package volume keeps usandbox's volumes in the store, as podman keeps
// its own: Root/volumes/NAME holds the volume's record (volume.json) and
// its files (_data), and, while the volume still waits for its first
// copy-up from an image, the marker file copyup. The files of _data
// belong to the sandbox's IDs: only the user namespace may delete them,
// so this package renames a volume out of the way and leaves the delete
// to its caller (package lifecycle), which does it there.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/moby/sys/atomicwriter"
	"golang.org/x/sys/unix"

	"usandbox/storage/index"
)

// Errors callers branch on.
var (
	ErrNoSuchVolume = errors.New("no such volume")
	ErrExists       = errors.New("volume already exists")
	ErrInvalid      = errors.New("invalid argument")
)

// Files of a volume's directory.
const (
	DataDir    = "_data"
	recordFile = "volume.json"
	// CopyUpMarker is there while the volume waits for its first
	// copy-up (podman's NeedsCopyUp): the sandbox's setup removes it
	// when it copies the image's files in.
	CopyUpMarker = "copyup"
	// removingPrefix marks a volume being removed: renamed first, so
	// that a removal cut short leaves no half volume under its name.
	removingPrefix = ".removing-"
)

// Volume is a volume's record, in podman's inspect shape.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  time.Time         `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Scope      string            `json:"Scope"`
	Options    map[string]string `json:"Options"`
	// Anonymous: made for one sandbox (-v /path, an image's VOLUME), and
	// removed with it by rm -v and --rm.
	Anonymous bool `json:"Anonymous,omitempty"`
	// MountCount is podman's: how often the volume's own filesystem is
	// mounted. A local volume is a directory, never mounted: 0.
	MountCount int `json:"MountCount"`
	// NeedsCopyUp: the first sandbox to mount it over image content
	// copies that content in (read from the marker, not stored).
	NeedsCopyUp bool `json:"NeedsCopyUp"`
}

// validName is podman's rule for volume names: a name is never a path.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckName refuses a name that is not a volume name.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid volume name %q: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: %w", name, ErrInvalid)
	}
	return nil
}

// Dir is the directory of all volumes.
func Dir(p index.Paths) string { return filepath.Join(p.Root, "volumes") }

// dir is volume name's directory; name must have passed CheckName.
func dir(p index.Paths, name string) string { return filepath.Join(Dir(p), name) }

// DataPath is where volume name's files are on the host.
func DataPath(p index.Paths, name string) string { return filepath.Join(dir(p, name), DataDir) }

// Lock serializes the changes of the volume set (create, remove, a
// sandbox's create that names volumes): a volume found unused is not
// taken by a sandbox before it is gone.
func Lock(p index.Paths) (func(), error) {
	if err := os.MkdirAll(Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("locking the volumes: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(p.Root, "volumes.lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the volumes: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the volumes: %w", err)
	}
	return func() { f.Close() }, nil
}

// CreateOptions describe a new volume.
type CreateOptions struct {
	// Name: "" makes an anonymous volume with a random name.
	Name      string
	Labels    map[string]string
	Anonymous bool
}

// Create makes a volume, empty and waiting for its copy-up. Its _data
// belongs to the user, which is root in the sandbox's user namespace.
// The caller holds Lock.
func Create(p index.Paths, o CreateOptions) (*Volume, error) {
	name := o.Name
	if name == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		name = hex.EncodeToString(b)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	labels := o.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	v := &Volume{
		Name: name, Driver: "local", Mountpoint: DataPath(p, name), CreatedAt: time.Now(),
		Labels: labels, Scope: "local", Options: map[string]string{}, Anonymous: o.Anonymous, NeedsCopyUp: true,
	}
	if err := os.MkdirAll(Dir(p), 0o700); err != nil {
		return nil, err
	}
	// Made whole under a temporary name, then renamed: a volume under its
	// name always has its record.
	tmp, err := os.MkdirTemp(Dir(p), removingPrefix+"new-")
	if err != nil {
		return nil, fmt.Errorf("creating volume %s: %w", name, err)
	}
	fail := func(err error) (*Volume, error) {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("creating volume %s: %w", name, err)
	}
	if err := os.Mkdir(filepath.Join(tmp, DataDir), 0o755); err != nil {
		return fail(err)
	}
	// MkdirAll and Mkdir obey the umask: the mode is set as meant.
	if err := os.Chmod(filepath.Join(tmp, DataDir), 0o755); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, CopyUpMarker), nil, 0o600); err != nil {
		return fail(err)
	}
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fail(err)
	}
	if err := atomicwriter.WriteFile(filepath.Join(tmp, recordFile), b, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return fail(err)
	}
	// NOREPLACE: a name taken meanwhile (the caller's lock aside) is
	// never written over.
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir(p, name), unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("volume with name %s already exists: %w", name, ErrExists)
	}
	if err != nil {
		return fail(err)
	}
	return v, nil
}

// Load reads volume name.
func Load(p index.Paths, name string) (*Volume, error) {
	if CheckName(name) != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSuchVolume)
	}
	b, err := os.ReadFile(filepath.Join(dir(p, name), recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSuchVolume)
	}
	if err != nil {
		return nil, err
	}
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("reading volume %s: %w", name, err)
	}
	v.Name, v.Mountpoint = name, DataPath(p, name)
	_, err = os.Lstat(filepath.Join(dir(p, name), CopyUpMarker))
	v.NeedsCopyUp = err == nil
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	return &v, nil
}

// List returns every volume, by name.
func List(p index.Paths) ([]*Volume, error) {
	ents, err := os.ReadDir(Dir(p))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Volume
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue // being created or removed
		}
		v, err := Load(p, e.Name())
		if err != nil {
			continue // removed meanwhile, or not a volume
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Detach renames volume name out of the way (it is no longer listed or
// found) and returns the directory that the caller must then delete in
// the user namespace. The caller holds Lock.
func Detach(p index.Paths, name string) (string, error) {
	if _, err := Load(p, name); err != nil {
		return "", err
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	to := filepath.Join(Dir(p), removingPrefix+name+"-"+hex.EncodeToString(b))
	if err := os.Rename(dir(p, name), to); err != nil {
		return "", fmt.Errorf("removing volume %s: %w", name, err)
	}
	return to, nil
}

// Leftovers are the directories of removals and creations that were cut
// short, for the caller to delete in the user namespace.
func Leftovers(p index.Paths) []string {
	ents, _ := os.ReadDir(Dir(p))
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), removingPrefix) {
			out = append(out, filepath.Join(Dir(p), e.Name()))
		}
	}
	return out
}

// IsVolumeDir reports whether path is a directory that Detach or
// Leftovers returned (what the removal in the user namespace accepts).
func IsVolumeDir(path string) bool {
	return filepath.Base(filepath.Dir(path)) == "volumes" && strings.HasPrefix(filepath.Base(path), removingPrefix)
}
