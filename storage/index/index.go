package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/sys/atomicwriter"
)

// ErrImageUnknown is wrapped when no image answers to a name or ID.
var ErrImageUnknown = errors.New("no such image")

// ErrAmbiguous is wrapped when a name or ID prefix matches several images.
var ErrAmbiguous = errors.New("ambiguous image reference")

// Config is the part of an OCI image config a sandbox uses.
type Config struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	StopSignal string   `json:"StopSignal,omitempty"`
	// Labels, ExposedPorts and Volumes are shown by inspect.
	Labels       map[string]string   `json:"Labels,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
}

// Image is one stored image.
type Image struct {
	ID           string    `json:"Id"`
	Names        []string  `json:"Names"`
	Digest       string    `json:"Digest"`
	Created      time.Time `json:"Created"`
	Size         int64     `json:"Size"`
	TopLayer     string    `json:"TopLayer"`
	Architecture string    `json:"Architecture"`
	OS           string    `json:"Os"`
	Config       Config    `json:"Config"`
	// Layers are the image's layers, bottom first.
	Layers []Layer `json:"Layers"`
	// DiffIDs are the digests of the layers' uncompressed contents, bottom
	// first (the config's rootfs.diff_ids, docker's RootFS.Layers).
	DiffIDs []string `json:"DiffIDs,omitempty"`
	// Intermediate is a build step's image with no name, kept for the
	// layer cache.
	Intermediate bool `json:"Intermediate,omitempty"`
}

// Layer is where one layer's files are.
type Layer struct {
	ID string `json:"Id"`
	// Dir is the layer's directory, relative to the driver's home.
	Dir string `json:"Dir"`
	// Link is a shorter path to Dir (overlay only), for long chains.
	Link string `json:"Link,omitempty"`
}

// Index is the file.
type Index struct {
	// Driver is the graph driver: "overlay" or "vfs".
	Driver string `json:"Driver"`
	// MountProgram is fuse-overlayfs when native overlay is unusable.
	MountProgram string `json:"MountProgram,omitempty"`
	// Home is the driver's directory, which layer Dirs are relative to.
	Home   string   `json:"Home"`
	Images []*Image `json:"Images"`
}

// File is the index's path.
func (p Paths) IndexFile() string { return filepath.Join(p.Root, "images.json") }

// Read reads the index; a store with no index yet has no images.
func Read(p Paths) (*Index, error) {
	b, err := os.ReadFile(p.IndexFile())
	if errors.Is(err, os.ErrNotExist) {
		return &Index{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the image index: %w", err)
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("reading the image index %s: %w (usandbox pull any image to rebuild it)", p.IndexFile(), err)
	}
	return &ix, nil
}

// Write replaces the index atomically and durably (fsync before the
// rename): a crash leaves the old index or the new one, whole.
func Write(p Paths, ix *Index) error {
	b, err := json.MarshalIndent(ix, "", " ")
	if err != nil {
		return err
	}
	if err := atomicwriter.WriteFile(p.IndexFile(), b, 0o600); err != nil {
		return fmt.Errorf("writing the image index: %w", err)
	}
	return nil
}

// Lookup finds an image by name (matched as docker matches names), full ID,
// "sha256:" ID or unique ID prefix.
func (ix *Index) Lookup(ref string) (*Image, error) {
	var byName []*Image
	for _, im := range ix.Images {
		for _, n := range im.Names {
			if NameMatches(n, ref) {
				byName = append(byName, im)
				break
			}
		}
	}
	if len(byName) == 1 {
		return byName[0], nil
	}
	if len(byName) > 1 {
		return nil, fmt.Errorf("%w: %q matches %d images, use the full name", ErrAmbiguous, ref, len(byName))
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if isHex(id) {
		var found []*Image
		for _, im := range ix.Images {
			if strings.HasPrefix(im.ID, id) {
				found = append(found, im)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
		default:
			return nil, fmt.Errorf("%w: %q matches %d images", ErrAmbiguous, ref, len(found))
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrImageUnknown, ref)
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// NameMatches reports whether the stored name stored (fully qualified,
// "docker.io/library/busybox:latest") answers to what a user typed
// ("busybox", "busybox:latest", "library/busybox", the full name), the way
// docker and podman match local images: a short name also matches on
// whole path components ("busybox" matches "localhost/busybox:latest").
func NameMatches(stored, typed string) bool {
	if stored == typed {
		return true
	}
	if !strings.Contains(lastPart(typed), ":") && !strings.Contains(typed, "@") {
		typed += ":latest"
	}
	if stored == typed || stored == Normalize(typed) {
		return true
	}
	return IsShortName(typed) && strings.HasSuffix(stored, "/"+typed)
}

// Normalize adds docker.io/ and library/ the way docker does to a name
// without a registry ("busybox:1" -> "docker.io/library/busybox:1").
func Normalize(name string) string {
	if !IsShortName(name) {
		return name
	}
	if !strings.Contains(name, "/") {
		name = "library/" + name
	}
	return "docker.io/" + name
}

// IsShortName reports whether a name has no registry part: "busybox",
// "library/debian:12", but not "quay.io/x", "localhost/x" or "host:5000/x".
func IsShortName(name string) bool {
	first, _, ok := strings.Cut(name, "/")
	if !ok {
		return true
	}
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}

func lastPart(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}
