package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// ExtractOptions say how Extract writes.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the other way round (docker's
	// noOverwriteDirNonDir).
	NoOverwriteDirNonDir bool
	// Chown gives each file the stream's owner (IDs, when set, maps
	// it); without it the files are the caller's.
	Chown bool
	IDs   func(uid, gid int) (int, int)
}

// Extract writes the tar stream rd into the directory dir (resolved in
// the root, which it must be). Each entry's parent is resolved inside
// the root (created if missing, as docker does) and the entry is made
// relative to it without following its last element: an entry never
// lands outside the root, whatever symlinks the root or the stream hold.
// A name that climbs above dir is refused.
func (r *Root) Extract(rd io.Reader, dir string, o ExtractOptions) error {
	dest, err := pathrs.OpenatInRoot(r.fd, dir)
	if err != nil {
		return notFound(err)
	}
	var st unix.Stat_t
	err = unix.Fstat(int(dest.Fd()), &st)
	dest.Close()
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return ErrNotDir
	}
	destAbs := path.Clean("/" + dir)
	x := &extractor{r: r, o: o, dest: destAbs}
	defer x.closeParent()
	tr := tar.NewReader(rd)
	var dirs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the tar stream: %w", err)
		}
		rel := path.Clean(strings.TrimLeft(h.Name, "/"))
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("tar entry %q leads out of the destination", h.Name)
		}
		if err := x.entry(h, rel, tr); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeDir {
			hc := *h
			hc.Name = rel
			dirs = append(dirs, &hc)
		}
	}
	// Directories' modes and times last: a directory without write
	// permission still took its contents, and they changed its times.
	for i := len(dirs) - 1; i >= 0; i-- {
		h := dirs[i]
		p, err := x.parent(h.Name)
		if err != nil {
			continue
		}
		fd, err := unix.Openat(p.fd, p.base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // swapped meanwhile: never followed
		}
		err = unix.Fchmod(fd, uint32(h.Mode&0o7777))
		ts := []unix.Timespec{unix.NsecToTimespec(h.AccessTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
		if h.AccessTime.IsZero() {
			ts[0] = ts[1]
		}
		_ = unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH) // times are best effort, as tar's
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("setting the mode of %s: %w", path.Join(destAbs, h.Name), err)
		}
	}
	return nil
}

type extractor struct {
	r    *Root
	o    ExtractOptions
	dest string
	// The last parent resolved, kept for the next entry in it.
	lastDir string
	lastFD  *os.File
}

type parentRef struct {
	fd   int
	base string
}

func (x *extractor) closeParent() {
	if x.lastFD != nil {
		x.lastFD.Close()
		x.lastFD = nil
	}
}

// parent resolves the parent of rel (relative to the destination) inside
// the root, making missing directories.
func (x *extractor) parent(rel string) (parentRef, error) {
	if rel == "." {
		full := x.dest
		d, base := path.Split(full)
		if base == "" { // the destination is the root itself
			d, base = "/", "."
		}
		f, err := x.dirFD(d)
		if err != nil {
			return parentRef{}, err
		}
		return parentRef{int(f.Fd()), base}, nil
	}
	d, base := path.Split(path.Join(x.dest, rel))
	f, err := x.dirFD(d)
	if err != nil {
		return parentRef{}, err
	}
	return parentRef{int(f.Fd()), base}, nil
}

func (x *extractor) dirFD(d string) (*os.File, error) {
	d = path.Clean(d)
	if x.lastFD != nil && x.lastDir == d {
		return x.lastFD, nil
	}
	x.closeParent()
	f, err := x.r.mkdirAll(d)
	if err != nil {
		return nil, fmt.Errorf("making %s: %w", d, err)
	}
	x.lastDir, x.lastFD = d, f
	return f, nil
}

func (x *extractor) owner(h *tar.Header) (int, int) {
	if x.o.IDs != nil {
		return x.o.IDs(h.Uid, h.Gid)
	}
	return h.Uid, h.Gid
}

func (x *extractor) entry(h *tar.Header, rel string, body io.Reader) error {
	p, err := x.parent(rel)
	if err != nil {
		return err
	}
	name := path.Join(x.dest, rel)
	var cur unix.Stat_t
	exists := unix.Fstatat(p.fd, p.base, &cur, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := exists && cur.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case h.Typeflag == tar.TypeDir && isDir:
		// kept; its attributes are the stream's below
	case h.Typeflag == tar.TypeDir && exists:
		if x.o.NoOverwriteDirNonDir {
			return fmt.Errorf("cannot overwrite non-directory %q with directory %q", name, h.Name)
		}
		if err := unix.Unlinkat(p.fd, p.base, 0); err != nil {
			return fmt.Errorf("replacing %s: %w", name, err)
		}
	case isDir:
		if x.o.NoOverwriteDirNonDir {
			return fmt.Errorf("cannot overwrite directory %q with non-directory %q", name, h.Name)
		}
		if p.base == "." {
			return fmt.Errorf("cannot overwrite directory %q with non-directory %q", name, h.Name)
		}
		if err := removeAllAt(p.fd, p.base); err != nil {
			return fmt.Errorf("replacing %s: %w", name, err)
		}
		x.closeParent() // it may have been below
		if p, err = x.parent(rel); err != nil {
			return err
		}
	case exists:
		if err := unix.Unlinkat(p.fd, p.base, 0); err != nil {
			return fmt.Errorf("replacing %s: %w", name, err)
		}
	}
	uid, gid := x.owner(h)
	mode := uint32(h.Mode & 0o7777)
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Openat(p.fd, p.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		_, err = io.Copy(f, body)
		if err == nil {
			err = x.attrs(fd, "", uid, gid, mode, h.ModTime, false)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		return nil
	case tar.TypeDir:
		if !isDir {
			if err := unix.Mkdirat(p.fd, p.base, 0o700); err != nil {
				return fmt.Errorf("creating %s: %w", name, err)
			}
		}
		fd, err := unix.Openat(p.fd, p.base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		defer unix.Close(fd)
		// Its mode at the end (Extract), 0700 until then.
		return x.attrs(fd, "", uid, gid, 0o700, time.Time{}, false)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(h.Linkname, p.fd, p.base); err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		return x.attrs(p.fd, p.base, uid, gid, 0, h.ModTime, true)
	case tar.TypeLink:
		lrel := path.Clean(strings.TrimLeft(h.Linkname, "/"))
		if lrel == ".." || strings.HasPrefix(lrel, "../") {
			return fmt.Errorf("tar entry %q links out of the destination", h.Name)
		}
		ld, lbase := path.Split(path.Join(x.dest, lrel))
		old, err := pathrs.OpenatInRoot(x.r.fd, ld)
		if err != nil {
			return fmt.Errorf("linking %s to %s: %w", name, h.Linkname, err)
		}
		defer old.Close()
		// No AT_SYMLINK_FOLLOW: a symlink is linked, never its target.
		if err := unix.Linkat(int(old.Fd()), lbase, p.fd, p.base, 0); err != nil {
			return fmt.Errorf("linking %s to %s: %w", name, h.Linkname, err)
		}
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
		dev := unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		if err := unix.Mknodat(p.fd, p.base, kind|mode, int(dev)); err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
		return x.attrs(p.fd, p.base, uid, gid, 0, h.ModTime, true)
	case tar.TypeXGlobalHeader:
		return nil
	}
	return fmt.Errorf("tar entry %q: type %q is not supported", h.Name, h.Typeflag)
}

// attrs sets owner, mode and times: of fd itself (name ""), or of name
// in the directory fd, not followed.
func (x *extractor) attrs(fd int, name string, uid, gid int, mode uint32, mtime time.Time, at bool) error {
	if x.o.Chown {
		var err error
		if at {
			err = unix.Fchownat(fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		} else {
			err = unix.Fchown(fd, uid, gid)
		}
		if err != nil {
			return fmt.Errorf("setting the owner to %d:%d: %w (the sandbox maps no such ID)", uid, gid, err)
		}
	}
	if !at {
		if err := unix.Fchmod(fd, mode); err != nil {
			return err
		}
	}
	if !mtime.IsZero() {
		ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		if at {
			_ = unix.UtimesNanoAt(fd, name, ts, unix.AT_SYMLINK_NOFOLLOW) // best effort, as tar's
		} else {
			_ = unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
		}
	}
	return nil
}

// mkdirAll resolves the directory d inside the root, making what is
// missing of it (0755, as docker): each directory made relative to its
// parent's handle, and resolved again inside the root, never followed
// outside it. (pathrs-lite's MkdirAllHandle needs a procfs that shows
// this process, which a helper in a sandbox's mount namespace has not.)
func (r *Root) mkdirAll(d string) (*os.File, error) {
	f, err := pathrs.OpenatInRoot(r.fd, d)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	parent, base := path.Split(path.Clean(d))
	if base == "" || base == "." || base == ".." {
		return nil, err
	}
	pf, err := r.mkdirAll(parent)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	if err := unix.Mkdirat(int(pf.Fd()), base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	fd, err := unix.Openat(int(pf.Fd()), base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		// A symlink there: resolved inside the root, or an error.
		return pathrs.OpenatInRoot(r.fd, d)
	}
	return os.NewFile(uintptr(fd), d), nil
}

// removeAllAt removes name in dir and what is below it, relative to open
// directories only: a symlink is removed, never followed.
func removeAllAt(dir int, name string) error {
	err := unix.Unlinkat(dir, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
}
