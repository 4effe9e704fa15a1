package storage

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/tar/asm"
	tsstorage "github.com/vbatts/tar-split/tar/storage"
	drivers "go.podman.io/storage/drivers"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"
)

// tarDiffer is a drivers.Differ that extracts an uncompressed layer tar into
// the staging directory storage hands it, holding open the directories on
// the way to the current entry.
//
// storage's own untar (pkg/archive.Unpack) resolves every entry's parent
// from the layer root with securejoin, one lstat of the whole path per
// component: a layer of N nested directories costs O(N²) syscalls that each
// walk O(N) components (1,200 levels took 30 s to 100 s). Here an entry
// whose parent is the previous entry's directory, or one of its ancestors,
// costs O(1) *at calls on held fds, so extraction is linear in the entries
// of a tar in the usual parent-before-child order. Every component is
// opened with O_NOFOLLOW, so nothing is written outside the layer.
//
// What lands on disk is what storage's untar writes: owners as in the tar
// (the store has no ID maps: the user namespace maps them to sub-IDs),
// modes with setuid bits, xattrs, overlay whiteouts (char 0:0) and opaque
// directories, hard links, mtimes. storage records the layer from the
// output: its digest, size, IDs, and the tar-split data it keeps to give
// the tar back.
type tarDiffer struct {
	tar io.Reader
}

func (d *tarDiffer) Close() error { return nil }

func (d *tarDiffer) ApplyDiff(dest string, o *archive.TarOptions, do *drivers.DifferOptions) (out drivers.DriverWithDifferOutput, retErr error) {
	if do != nil && do.Format != drivers.DifferOutputFormatDir {
		return out, fmt.Errorf("storage: unsupported layer layout %d (composefs)", do.Format)
	}
	scratch := path.Dir(dest)
	if do != nil && do.StagingDirectory != "" {
		scratch = do.StagingDirectory
	}
	ts, err := os.CreateTemp(scratch, "tar-split-")
	if err != nil {
		return out, fmt.Errorf("storage: %w", err)
	}
	os.Remove(ts.Name()) // the open file is enough
	defer func() {
		if retErr != nil {
			ts.Close()
		}
	}()
	h := sha256.New()
	n := &countWriter{}
	raw := io.TeeReader(d.tar, io.MultiWriter(h, n))
	stream, err := asm.NewInputTarStream(raw, tsstorage.NewJSONPacker(ts), nil)
	if err != nil {
		return out, err
	}
	x, err := newExtractor(dest, o)
	if err != nil {
		return out, err
	}
	defer x.close()
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		if err := x.entry(hdr, tr); err != nil {
			return out, fmt.Errorf("extracting %s: %w", hdr.Name, err)
		}
	}
	// The padding after the last entry belongs to the tar-split record
	// and the digest.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return out, err
	}
	if err := x.finish(); err != nil {
		return out, err
	}
	out.Size = n.n
	out.UncompressedDigest = digest.NewDigest(digest.SHA256, h)
	out.UIDs, out.GIDs = sortedIDs(x.uids), sortedIDs(x.gids)
	out.TarSplit = ts
	return out, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func sortedIDs(m map[uint32]struct{}) []uint32 {
	out := make([]uint32, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

type fileKey struct{ dev, ino uint64 }

type openDir struct {
	name string
	fd   int
}

// extractor writes tar entries below root. stack holds the open
// directories root/stack[0]/stack[1]/…, the parent of the last entry.
type extractor struct {
	root       int
	rootPath   string
	stack      []openDir
	o          *archive.TarOptions
	times      map[fileKey][2]unix.Timespec // directory mtimes, set when left
	rootTimes  *[2]unix.Timespec
	uids, gids map[uint32]struct{}
	buf        []byte
}

func newExtractor(root string, o *archive.TarOptions) (*extractor, error) {
	if o == nil {
		o = &archive.TarOptions{}
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return &extractor{root: fd, rootPath: root, o: o, times: map[fileKey][2]unix.Timespec{},
		uids: map[uint32]struct{}{}, gids: map[uint32]struct{}{}, buf: make([]byte, 1<<20)}, nil
}

func (x *extractor) close() {
	for _, d := range x.stack {
		unix.Close(d.fd)
	}
	x.stack = nil
	unix.Close(x.root)
}

// finish leaves every held directory (setting its mtime) and sets the
// root's.
func (x *extractor) finish() error {
	if err := x.popTo(0); err != nil {
		return err
	}
	if x.rootTimes != nil {
		if err := unix.UtimesNanoAt(x.root, "", x.rootTimes[:], unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("setting the times of the layer root: %w", err)
		}
	}
	return nil
}

func (x *extractor) top() int {
	if len(x.stack) == 0 {
		return x.root
	}
	return x.stack[len(x.stack)-1].fd
}

// popTo closes held directories down to depth n, setting each one's
// recorded mtime now that nothing more is created in it.
func (x *extractor) popTo(n int) error {
	for len(x.stack) > n {
		d := x.stack[len(x.stack)-1]
		x.stack = x.stack[:len(x.stack)-1]
		var err error
		if ts, ok := x.times[x.key(d.fd)]; ok {
			err = unix.UtimesNanoAt(x.top(), d.name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
		}
		unix.Close(d.fd)
		if err != nil {
			return fmt.Errorf("setting the times of %s: %w", d.name, err)
		}
	}
	return nil
}

func (x *extractor) key(fd int) fileKey {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return fileKey{}
	}
	return fileKey{st.Dev, st.Ino}
}

// parent makes the held stack the directory dirs (components below root),
// reusing the common prefix and creating missing directories as storage
// does (mode 0755, owned by root).
func (x *extractor) parent(dirs []string) (int, error) {
	k := 0
	for k < len(x.stack) && k < len(dirs) && x.stack[k].name == dirs[k] {
		k++
	}
	if err := x.popTo(k); err != nil {
		return -1, err
	}
	for _, name := range dirs[k:] {
		fd, err := openDirAt(x.top(), name)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(x.top(), name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				fd, err = openDirAt(x.top(), name)
			}
		}
		if err != nil {
			return -1, fmt.Errorf("parent directory %s: %w", name, notDir(err))
		}
		x.stack = append(x.stack, openDir{name, fd})
	}
	return x.top(), nil
}

func openDirAt(dir int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func notDir(err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w (a file or symlink in the layer stands where a directory is needed)", err)
	}
	return err
}

// split cleans a tar name into its directory components and base name;
// base is "" for the layer root.
func split(name string) ([]string, string, error) {
	clean := path.Clean("/" + name)
	if clean == "/" {
		return nil, "", nil
	}
	// Clean of an absolute path drops every "..": check the raw name.
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return nil, "", fmt.Errorf("%q is outside of the layer", name)
		}
	}
	parts := strings.Split(clean[1:], "/")
	return parts[:len(parts)-1], parts[len(parts)-1], nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	dirs, base, err := split(hdr.Name)
	if err != nil {
		return err
	}
	if base == "" {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("refusing a non-directory entry as the layer root")
		}
		if err := x.meta(x.root, hdr, true); err != nil {
			return err
		}
		ts := times(hdr)
		x.rootTimes = &ts
		return nil
	}
	p, err := x.parent(dirs)
	if err != nil {
		return err
	}
	if x.o.WhiteoutFormat == archive.OverlayWhiteoutFormat {
		if base == archive.WhiteoutOpaqueDir {
			name := archive.GetOverlayXattrName("opaque")
			if err := unix.Fsetxattr(p, name, []byte{'y'}, 0); err != nil {
				return fmt.Errorf("setxattr %s: %w", name, err)
			}
			return nil
		}
		if orig, ok := strings.CutPrefix(base, archive.WhiteoutPrefix); ok {
			if orig == "" || orig == "." || orig == ".." || strings.HasPrefix(orig, archive.WhiteoutPrefix) {
				return fmt.Errorf("invalid whiteout %q", hdr.Name)
			}
			if err := unix.Mknodat(p, orig, unix.S_IFCHR, 0); err != nil {
				return fmt.Errorf("whiteout: %w", err)
			}
			return x.chown(p, orig, hdr)
		}
	}

	// An existing entry is replaced, except a directory by a directory
	// (the layer's entries merge).
	var st unix.Stat_t
	if err := unix.Fstatat(p, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if !isDir || hdr.Typeflag != tar.TypeDir {
			if err := removeAt(p, base, isDir); err != nil {
				return err
			}
		}
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(p, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		fd, err := openDirAt(p, base)
		if err != nil {
			return notDir(err)
		}
		defer unix.Close(fd)
		if err := x.meta(fd, hdr, true); err != nil {
			return err
		}
		ts := times(hdr)
		x.times[x.key(fd)] = ts
		return unix.UtimesNanoAt(p, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	case tar.TypeReg, tar.TypeGNUSparse:
		fd, err := unix.Openat(p, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		defer f.Close()
		if _, err := io.CopyBuffer(f, r, x.buf); err != nil {
			return err
		}
		if err := x.meta(fd, hdr, false); err != nil {
			return err
		}
		ts := times(hdr)
		return unix.UtimesNanoAt(p, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, p, base); err != nil {
			return err
		}
		if err := x.chown(p, base, hdr); err != nil {
			return err
		}
		ts := times(hdr)
		return unix.UtimesNanoAt(p, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	case tar.TypeLink:
		return x.link(p, base, hdr)
	case tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
		if hdr.Typeflag != tar.TypeFifo && x.o.InUserNS {
			return nil // a user namespace cannot make devices; storage skips them too
		}
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		if err := unix.Mknodat(p, base, mode|uint32(hdr.Mode&0o7777), int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
		if err := x.chown(p, base, hdr); err != nil {
			return err
		}
		if err := unix.Fchmodat(p, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return err
		}
		ts := times(hdr)
		return unix.UtimesNanoAt(p, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	case tar.TypeXGlobalHeader:
		return nil
	}
	return fmt.Errorf("unhandled tar entry type %q", hdr.Typeflag)
}

// link makes a hard link to an earlier entry. The target is resolved in
// the layer root (symlinks cannot lead out): hard links are few, so one
// openat2 walk each is cheap.
func (x *extractor) link(p int, base string, hdr *tar.Header) error {
	dirs, tbase, err := split(hdr.Linkname)
	if err != nil || tbase == "" {
		return fmt.Errorf("invalid hard link target %q", hdr.Linkname)
	}
	tdir := x.root
	if len(dirs) > 0 {
		tdir, err = unix.Openat2(x.root, strings.Join(dirs, "/"), &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return fmt.Errorf("hard link target %s: %w", hdr.Linkname, err)
		}
		defer unix.Close(tdir)
	}
	if err := unix.Linkat(tdir, tbase, p, base, 0); err != nil {
		return fmt.Errorf("hard link to %s: %w", hdr.Linkname, err)
	}
	return nil
}

func removeAt(dir int, name string, isDir bool) error {
	if !isDir {
		return unix.Unlinkat(dir, name, 0)
	}
	if err := unix.Unlinkat(dir, name, unix.AT_REMOVEDIR); err == nil || !errors.Is(err, unix.ENOTEMPTY) {
		return err
	}
	// A directory replaced by a non-directory of the same layer: rare,
	// so the path through the held fd will do.
	return os.RemoveAll(fmt.Sprintf("/proc/self/fd/%d/%s", dir, name))
}

// meta sets the owner, mode and xattrs of the open file or directory fd.
func (x *extractor) meta(fd int, hdr *tar.Header, dir bool) error {
	if err := x.chown(fd, "", hdr); err != nil {
		return err
	}
	// After chown, which clears setuid bits.
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := unix.Fsetxattr(fd, name, []byte(v), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || (x.o.InUserNS && errors.Is(err, unix.EPERM)) {
				continue // as storage: xattrs this filesystem or namespace cannot hold are dropped
			}
			return fmt.Errorf("setxattr %s: %w", name, err)
		}
	}
	return nil
}

// chown sets the owner of name in dir (of dir itself when name is "").
func (x *extractor) chown(dir int, name string, hdr *tar.Header) error {
	if x.o.NoLchown {
		return nil
	}
	x.uids[uint32(hdr.Uid)] = struct{}{}
	x.gids[uint32(hdr.Gid)] = struct{}{}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags = unix.AT_EMPTY_PATH
	}
	err := unix.Fchownat(dir, name, hdr.Uid, hdr.Gid, flags)
	if err == nil {
		return nil
	}
	if x.o.IgnoreChownErrors {
		return nil // owned by the namespace's root: the single-ID fallback
	}
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("owner %d:%d is outside the user namespace's ID map (potentially insufficient UIDs or GIDs: check /etc/subuid and /etc/subgid): %w", hdr.Uid, hdr.Gid, err)
	}
	return fmt.Errorf("chown: %w", err)
}

func times(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() || at.Before(hdr.ModTime) {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
}
