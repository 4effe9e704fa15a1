//go:build seccomp && cgo

package seccomp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/moby/sys/atomicwriter"
	"golang.org/x/sys/unix"
)

// cacheFormat changes whenever what a cache file holds changes meaning.
const cacheFormat = "usandbox seccomp cache 1"

// Cache keeps compiled programs in a directory, one file per compiled
// program, so that a warm start reads a few kilobytes instead of paying
// libseccomp's compile cost. A file is named by a hash of everything the
// program depends on: the profile's JSON, the capability set, the
// architecture, the kernel release and the versions of libseccomp, runc
// and moby's profiles. Files are written atomically, so concurrent
// sandboxes share the directory safely; nothing is ever stale, only
// unused.
type Cache struct {
	dir string
}

// NewCache returns a cache in dir (for example under the run root). The
// directory is created on first write.
func NewCache(dir string) *Cache {
	return &Cache{dir: dir}
}

// Compile returns the compiled program for p and capabilities, as
// [Compile] does, from the cache when it holds it. A cache file that
// cannot be decoded is replaced.
func (c *Cache) Compile(p *Profile, capabilities []string) (Program, error) {
	if p.IsUnconfined() {
		return Program{}, nil
	}
	key, err := c.key(p, capabilities)
	if err != nil {
		return Program{}, err
	}
	path := filepath.Join(c.dir, key+".bpf")
	data, err := os.ReadFile(path)
	if err == nil {
		var prog Program
		if prog.UnmarshalBinary(data) == nil {
			return prog, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Program{}, fmt.Errorf("seccomp: reading the cache: %w", err)
	}
	prog, err := Compile(p, capabilities)
	if err != nil {
		return Program{}, err
	}
	if data, err = prog.MarshalBinary(); err != nil {
		return Program{}, err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return Program{}, fmt.Errorf("seccomp: creating the cache: %w", err)
	}
	if err := atomicwriter.WriteFile(path, data, 0o600); err != nil {
		return Program{}, fmt.Errorf("seccomp: writing the cache: %w", err)
	}
	return prog, nil
}

// key hashes what a compiled program depends on.
func (c *Cache) key(p *Profile, capabilities []string) (string, error) {
	profile, err := p.canonicalJSON()
	if err != nil {
		return "", fmt.Errorf("seccomp: profile %s: %w", p, err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", fmt.Errorf("seccomp: uname: %w", err)
	}
	// A set: order and repetition do not change the program.
	caps := slices.Compact(slices.Sorted(slices.Values(capabilityNames(capabilities))))
	h := sha256.New()
	for _, part := range []string{
		cacheFormat,
		string(profile),
		strings.Join(caps, ","),
		runtime.GOARCH,
		unix.ByteSliceToString(uts.Release[:]),
		compilerVersion(),
	} {
		// Length-prefixed, so that no two lists hash alike.
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// moduleVersions lists the versions this binary was built with of the
// given modules.
func moduleVersions(paths ...string) string {
	versions := make(map[string]string)
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			v := m.Version + " " + m.Sum
			if m.Replace != nil {
				v = "=> " + m.Replace.Path + " " + m.Replace.Version + " " + m.Replace.Sum
			}
			versions[m.Path] = v
		}
	}
	var out []string
	for _, p := range paths {
		v := versions[p]
		if v == "" {
			v = "unknown"
		}
		out = append(out, p+" "+v)
	}
	return strings.Join(out, "; ")
}
