package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Change is one path that a sandbox changed in its root filesystem, as
// podman's diff prints it: Kind is "A" (added), "C" (changed) or "D"
// (deleted).
type Change struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// Diff lists what a sandbox (running or not) changed against its image,
// sorted by path, from its overlay's upper layer: a path there is added,
// or changed if a layer of the image has it; a whiteout (a 0/0 character
// device, or fuse-overlayfs' .wh.NAME) is a deletion. A directory made
// opaque (replaced whole) shows as changed; what it hid is not listed.
func (e *Engine) Diff(ctx context.Context, ref string) ([]Change, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := sb.Damaged(); err != nil {
		return nil, classify(err)
	}
	r := sb.Spec.Rootfs
	lowers := make([]string, len(r.Lowers))
	for i, l := range r.Lowers {
		lowers[i] = filepath.Join(r.Home, l)
	}
	return upperChanges(r.Upper, lowers)
}

// runtimePaths are what usandbox itself makes in every sandbox (mount
// points of its bind mounts and filesystems): not the command's changes,
// so not listed (podman's list of its own, libpod/diff.go).
var runtimePaths = map[string]bool{
	"/dev": true, "/etc/hostname": true, "/etc/hosts": true, "/etc/resolv.conf": true, "/proc": true,
	"/run": true, "/run/notify": true, "/run/.containerenv": true, "/run/secrets": true, "/sys": true, "/etc/mtab": true,
}

// upperChanges walks upper; lowers are the image's layer directories.
func upperChanges(upper string, lowers []string) ([]Change, error) {
	inLower := func(p string) bool {
		for _, l := range lowers {
			// Resolved inside the layer: a symlink in it never sends
			// the check to a host path.
			full, err := securejoin.SecureJoin(l, p)
			if err != nil {
				continue
			}
			if _, err := os.Lstat(full); err == nil {
				return true
			}
		}
		return false
	}
	var out []Change
	err := filepath.WalkDir(upper, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("reading the sandbox's upper layer: %w (a directory of one of the sandbox's users that yours cannot read)", err)
			}
			return err
		}
		if path == upper {
			return nil
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(path, upper+"/"))
		name := d.Name()
		switch {
		case name == ".wh..wh..opq":
			return nil
		case strings.HasPrefix(name, ".wh."):
			out = append(out, Change{"D", filepath.Join(filepath.Dir(rel), strings.TrimPrefix(name, ".wh."))})
			return nil
		case d.Type()&fs.ModeCharDevice != 0:
			var st unix.Stat_t
			if unix.Lstat(path, &st) == nil && st.Rdev == 0 {
				out = append(out, Change{"D", rel})
				return nil
			}
		}
		if runtimePaths[rel] {
			return nil
		}
		kind := "A"
		if inLower(rel) {
			kind = "C"
		}
		out = append(out, Change{kind, rel})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
