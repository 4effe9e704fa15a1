// Package archive reads and writes tar streams of the files below a root
// directory, with every path resolved inside that root and every file
// opened relative to an open directory: a symlink, however placed or
// swapped in while the copy runs, never leads outside the root (docker's
// and podman's cp semantics otherwise). It serves usandbox cp and export
// on both sides: in a helper whose root is a sandbox's, and on the host
// for the caller's destination directory.
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Stat is what docker's archive API says of a path (ContainerPathStat).
type Stat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       os.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// ErrNotFound: the path does not exist in the root.
var ErrNotFound = errors.New("no such file or directory")

// ErrNotDir: the extraction point is not a directory.
var ErrNotDir = errors.New("extraction point is not a directory")

// Root is a directory that every path is resolved in.
type Root struct {
	fd   *os.File // O_PATH
	path string   // its path, for LinkTarget only
}

// OpenRoot opens dir as a root.
func OpenRoot(dir string) (*Root, error) {
	fd, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &Root{fd: fd, path: dir}, nil
}

// Close releases the root.
func (r *Root) Close() error { return r.fd.Close() }

// target is a path split for use: dir is its parent, resolved in the
// root (symlinks followed inside it); base is its last element, not
// followed, or "" when the path names dir itself ("/", "/a/.", "/a/").
type target struct {
	dir  *os.File
	base string
}

func (t target) Close() { t.dir.Close() }

// lookup resolves p (absolute inside the root).
func (r *Root) lookup(p string) (target, error) {
	abs := "/" + strings.TrimLeft(p, "/")
	d, base := path.Split(abs)
	if base == "." || base == ".." {
		d, base = abs, ""
	}
	dir, err := pathrs.OpenatInRoot(r.fd, d)
	if err != nil {
		return target{}, notFound(err)
	}
	return target{dir: dir, base: base}, nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w", ErrNotFound)
	}
	return err
}

// lstat is the target's stat, its last element not followed.
func (t target) lstat() (unix.Stat_t, error) {
	var st unix.Stat_t
	var err error
	if t.base == "" {
		err = unix.Fstat(int(t.dir.Fd()), &st)
	} else {
		err = unix.Fstatat(int(t.dir.Fd()), t.base, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return st, notFound(err)
	}
	return st, nil
}

// Stat describes p as docker's HEAD /containers/ID/archive does: its
// last element not followed; a symlink's LinkTarget is where it leads,
// fully resolved inside the root.
func (r *Root) Stat(p string) (Stat, error) {
	t, err := r.lookup(p)
	if err != nil {
		return Stat{}, err
	}
	defer t.Close()
	st, err := t.lstat()
	if err != nil {
		return Stat{}, err
	}
	abs := path.Clean("/" + p)
	out := Stat{Name: path.Base(abs), Size: st.Size, Mode: fileMode(st.Mode), Mtime: time.Unix(st.Mtim.Unix())}
	if out.Mode&os.ModeSymlink != 0 {
		// Informational, and lexical past a missing element: it is
		// never used to open anything here.
		full, err := securejoin.SecureJoin(r.path, abs)
		if err == nil {
			if rel, err := filepath.Rel(r.path, full); err == nil {
				out.LinkTarget = path.Join("/", rel)
			}
		}
	}
	return out, nil
}

// fileMode is os.FileMode of a stat's st_mode.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// ArchiveOptions say how Archive writes.
type ArchiveOptions struct {
	// OneFileSystem: no descent into another filesystem than the
	// start's (export: the root filesystem alone, not what is mounted
	// on it). Without it, only pseudo filesystems (proc, sysfs, …) are
	// not descended into.
	OneFileSystem bool
	// Name is the name of the start's entry in the stream (docker's
	// rebase: the path's base name, "." for a directory's contents).
	Name string
	// Contents: the start (a directory) is not an entry; what is below
	// it is, named relative to it (export: "bin/", "bin/sh", …).
	Contents bool
	// IDs, when set, maps an owner as the filesystem has it to the
	// stream's.
	IDs func(uid, gid uint32) (int, int)
}

// pseudo are filesystems whose files are not data (their sizes lie,
// reads may block or have effects): their directories are archived
// empty.
var pseudo = map[int64]bool{
	unix.PROC_SUPER_MAGIC: true, unix.SYSFS_MAGIC: true, unix.CGROUP2_SUPER_MAGIC: true, unix.CGROUP_SUPER_MAGIC: true,
	unix.DEVPTS_SUPER_MAGIC: true, 0x19800202: true, unix.DEBUGFS_MAGIC: true, unix.SECURITYFS_MAGIC: true,
	unix.TRACEFS_MAGIC: true, unix.BPF_FS_MAGIC: true, unix.FUSE_SUPER_MAGIC: true,
}

// Archive writes p (and what is below it, if a directory) to w as a tar
// stream, as docker's GET /containers/ID/archive: the last element of p
// is not followed (a symlink is archived as one), nor is any symlink
// below it; every file is opened relative to its directory, so a file
// swapped for a symlink while this runs is never read through it.
func (r *Root) Archive(w io.Writer, p string, o ArchiveOptions) error {
	t, err := r.lookup(p)
	if err != nil {
		return err
	}
	defer t.Close()
	st, err := t.lstat()
	if err != nil {
		return err
	}
	name := o.Name
	if name == "" {
		// docker's: the base name; a directory's contents ("/d/.",
		// "/") under ".".
		name = path.Base(path.Clean("/" + p))
		if name == "/" || strings.HasSuffix(p, "/.") || p == "." {
			name = "."
		}
	}
	a := &archiver{tw: tar.NewWriter(w), o: o, dev: st.Dev, uid: st.Uid, gid: st.Gid, links: map[[2]uint64]string{}}
	parent, base := int(t.dir.Fd()), t.base
	if base == "" {
		base = "."
	}
	if o.Contents {
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return ErrNotDir
		}
		name = ""
	}
	if err := a.entry(parent, base, name, st); err != nil {
		return err
	}
	return a.tw.Close()
}

type archiver struct {
	tw  *tar.Writer
	o   ArchiveOptions
	dev uint64
	// uid and gid are the start's: a mount point's (OneFileSystem).
	uid, gid uint32
	links    map[[2]uint64]string
}

func (a *archiver) header(st *unix.Stat_t, name string) *tar.Header {
	h := &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()).Truncate(time.Second), Format: tar.FormatPAX,
	}
	if a.o.IDs != nil {
		h.Uid, h.Gid = a.o.IDs(st.Uid, st.Gid)
	}
	return h
}

// entry archives base in the directory parent as name; st is its lstat.
func (a *archiver) entry(parent int, base, name string, st unix.Stat_t) error {
	h := a.header(&st, name)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		target, err := readlinkat(parent, base)
		if err != nil {
			return nil // gone meanwhile
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
		return a.tw.WriteHeader(h)
	case unix.S_IFREG:
		// O_NONBLOCK: a FIFO swapped in does not hang the open;
		// O_NOFOLLOW: nor is a symlink swapped in followed.
		fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) {
				return nil // gone or swapped meanwhile
			}
			return fmt.Errorf("reading %s: %w", name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil
		}
		h = a.header(&st, name)
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := a.links[key]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, first
				return a.tw.WriteHeader(h)
			}
			a.links[key] = name
		}
		h.Typeflag, h.Size = tar.TypeReg, st.Size
		if err := a.tw.WriteHeader(h); err != nil {
			return err
		}
		n, err := io.CopyN(a.tw, f, st.Size)
		if err == io.EOF {
			// Shrunk while read: the header's size is kept.
			_, err = io.CopyN(a.tw, zeros{}, st.Size-n)
		}
		return err
	case unix.S_IFDIR:
		return a.dir(parent, base, name)
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		return a.tw.WriteHeader(h)
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
		return a.tw.WriteHeader(h)
	}
	return nil // sockets: tar has no type for them
}

func (a *archiver) dir(parent int, base, name string) error {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("reading %s: %w", name, err)
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	other := a.o.OneFileSystem && st.Dev != a.dev
	if other {
		// A mount point: what it hides is out of reach; it shows as
		// an empty directory of the start's owner, not as the mounted
		// filesystem's root (whose owner may be no ID of the sandbox).
		st.Uid, st.Gid, st.Mode = a.uid, a.gid, unix.S_IFDIR|0o755
	}
	if name != "" {
		h := a.header(&st, strings.TrimSuffix(name, "/")+"/")
		h.Typeflag = tar.TypeDir
		if err := a.tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if other {
		return nil
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) == nil && pseudo[int64(sfs.Type)] {
		return nil
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	sort.Strings(names)
	for _, n := range names {
		var cst unix.Stat_t
		if err := unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone meanwhile
		}
		child := n // below the start of a Contents archive
		switch name {
		case "":
		case ".":
			child = "./" + n
		default:
			child = strings.TrimSuffix(name, "/") + "/" + n
		}
		if err := a.entry(fd, n, child, cst); err != nil {
			return err
		}
	}
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func readlinkat(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, b)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}
