package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"

	"usandbox/storage/index"
)

// Apply copies op into the root filesystem at rootDir (a mounted
// overlay), from srcDir (the build context, or another image's root).
// Every path in the new root is resolved inside it, fd-relative: a
// symlink in the image (/usr/local/bin -> /elsewhere, or -> /) is
// followed inside the root, never out of it; an entry in the way is
// replaced, never written through.
func Apply(rootDir, srcDir string, op index.CopyOp) error {
	src, err := os.OpenRoot(srcDir)
	if err != nil {
		return fmt.Errorf("opening the copy's source: %w", err)
	}
	defer src.Close()
	dst, err := os.Open(rootDir)
	if err != nil {
		return err
	}
	defer dst.Close()
	found, pm, err := sources(src, op.Src, op.Excludes)
	if err != nil {
		return err
	}
	owner := func(fi fs.FileInfo) (int, int) {
		if op.FromImage != "" && fi != nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				return int(st.Uid), int(st.Gid)
			}
		}
		return 0, 0
	}
	if op.Chown != "" {
		uid, gid, err := lookupOwner(dst, op.Chown)
		if err != nil {
			return err
		}
		owner = func(fs.FileInfo) (int, int) { return uid, gid }
	}
	var mode *os.FileMode
	if op.Chmod != "" {
		m, err := strconv.ParseUint(op.Chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("--chmod=%s: only an octal mode is supported", op.Chmod)
		}
		fm := os.FileMode(m)
		mode = &fm
	}
	w := &writer{root: dst, owner: owner, mode: mode}
	destDir := strings.HasSuffix(op.Dest, "/") || len(found) > 1 || len(op.Src) > 1
	dest := path.Clean(op.Dest)
	if !destDir {
		if fi, err := statIn(dst, dest); err == nil && fi.IsDir() {
			destDir = true
		}
	}
	for _, s := range found {
		if op.Extract && s.fi.Mode().IsRegular() {
			ok, err := w.extract(src, s.rel, dest)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		target := dest
		if !s.fi.IsDir() && destDir {
			name := path.Base(s.rel)
			if op.Rename != "" {
				name = op.Rename
			}
			target = path.Join(dest, name)
		}
		err := walk(src, s, pm, func(rel string, fi fs.FileInfo) error {
			to := target
			if s.fi.IsDir() {
				sub := strings.TrimPrefix(strings.TrimPrefix(rel, s.real), "/")
				if s.real == "." {
					sub = rel
					if rel == "." {
						sub = ""
					}
				}
				to = path.Join(target, sub)
			}
			return w.put(src, rel, fi, to)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// writer creates files in the new root.
type writer struct {
	root  *os.File
	owner func(fs.FileInfo) (int, int)
	mode  *os.FileMode
}

func (w *writer) perm(fi fs.FileInfo) uint32 {
	if w.mode != nil {
		return uint32(*w.mode)
	}
	return uint32(fi.Mode().Perm())
}

// unixMode converts Go's special bits to the kernel's.
func unixMode(m fs.FileMode, perm uint32) uint32 {
	out := perm & 0o777
	if m&fs.ModeSetuid != 0 {
		out |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		out |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		out |= unix.S_ISVTX
	}
	return out
}

// parent opens the directory that will hold p (made if missing, 0755,
// root's), resolved inside the root, and returns it with p's last name.
func (w *writer) parent(p string) (*os.File, string, error) {
	dir, name := path.Split(path.Clean("/" + p))
	if name == "" {
		return nil, "", fmt.Errorf("cannot copy over the root directory")
	}
	h, err := pathrs.MkdirAllHandle(w.root, dir, 0o755)
	if err != nil {
		return nil, "", fmt.Errorf("making %s: %w", dir, err)
	}
	defer h.Close()
	d, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, "", fmt.Errorf("opening %s: %w", dir, err)
	}
	return d, name, nil
}

// put copies one entry of the source to to, in the new root.
func (w *writer) put(src *os.Root, rel string, fi fs.FileInfo, to string) error {
	uid, gid := w.owner(fi)
	switch {
	case fi.IsDir():
		return w.dirAs(to, fi, uid, gid)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := src.Readlink(rel)
		if err != nil {
			return err
		}
		d, name, err := w.parent(to)
		if err != nil {
			return err
		}
		defer d.Close()
		if err := clear(d, name, to); err != nil {
			return err
		}
		if err := unix.Symlinkat(target, int(d.Fd()), name); err != nil {
			return fmt.Errorf("creating %s: %w", to, err)
		}
		if err := unix.Fchownat(int(d.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", to, err)
		}
		return setTimes(int(d.Fd()), name, fi, unix.AT_SYMLINK_NOFOLLOW)
	case fi.Mode().IsRegular():
		in, err := src.Open(rel)
		if err != nil {
			return err
		}
		defer in.Close()
		return w.file(in, fi, to, uid, gid)
	default:
		// Devices, sockets and FIFOs in a context are not copied, as
		// docker leaves sockets out.
		return nil
	}
}

// file writes the content r as the regular file to.
func (w *writer) file(r io.Reader, fi fs.FileInfo, to string, uid, gid int) error {
	d, name, err := w.parent(to)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := clear(d, name, to); err != nil {
		return err
	}
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", to, err)
	}
	out := os.NewFile(uintptr(fd), to)
	defer out.Close()
	if _, err := io.Copy(out, r); err != nil {
		return fmt.Errorf("writing %s: %w", to, err)
	}
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", to, err)
	}
	// After chown, which clears set-id bits.
	if err := unix.Fchmod(fd, unixMode(fi.Mode(), w.perm(fi))); err != nil {
		return fmt.Errorf("chmod %s: %w", to, err)
	}
	return setTimes(fd, "", fi, unix.AT_EMPTY_PATH)
}

// clear removes what is at name in d, unless it is a directory (a file
// cannot replace one, as in docker).
func clear(d *os.File, name, full string) error {
	var st unix.Stat_t
	err := unix.Fstatat(int(d.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("cannot overwrite the directory %s with a file", full)
	}
	return unix.Unlinkat(int(d.Fd()), name, 0)
}

func setTimes(fd int, name string, fi fs.FileInfo, flags int) error {
	t := unix.NsecToTimespec(fi.ModTime().UnixNano())
	if err := unix.UtimesNanoAt(fd, name, []unix.Timespec{t, t}, flags); err != nil && !errors.Is(err, unix.EPERM) {
		return err
	}
	return nil
}

// statIn stats p resolved inside the root.
func statIn(root *os.File, p string) (fs.FileInfo, error) {
	h, err := pathrs.OpenatInRoot(root, p)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.Stat()
}

// extract unpacks the source rel into dest if it is a tar archive
// (compressed or not), as ADD does; it returns false for other files.
// Entry names stay inside dest's root: they are resolved in it.
func (w *writer) extract(src *os.Root, rel, dest string) (bool, error) {
	f, err := src.Open(rel)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r, err := archive.DecompressStream(f)
	if err != nil {
		return false, nil
	}
	defer r.Close()
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		// Not a tar: copied as a file.
		return false, nil
	}
	for ; err == nil; hdr, err = tr.Next() {
		name := path.Clean("/" + hdr.Name)
		if strings.HasPrefix(path.Base(name), archive.WhiteoutPrefix) {
			continue
		}
		to := path.Join(dest, name)
		fi := hdr.FileInfo()
		uid, gid := hdr.Uid, hdr.Gid
		if w.ownerFixed() {
			uid, gid = w.owner(fi)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := w.dirAs(to, fi, uid, gid); err != nil {
				return true, err
			}
		case tar.TypeReg:
			if err := w.file(tr, fi, to, uid, gid); err != nil {
				return true, err
			}
		case tar.TypeSymlink:
			d, n, err := w.parent(to)
			if err != nil {
				return true, err
			}
			err = clear(d, n, to)
			if err == nil {
				err = unix.Symlinkat(hdr.Linkname, int(d.Fd()), n)
			}
			if err == nil {
				err = unix.Fchownat(int(d.Fd()), n, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
			}
			d.Close()
			if err != nil {
				return true, fmt.Errorf("creating %s: %w", to, err)
			}
		case tar.TypeLink:
			// A hard link is copied as a file of its own: resolved in
			// the new root, its target cannot be a host file.
			t, err := pathrs.OpenatInRoot(w.root, path.Join(dest, path.Clean("/"+hdr.Linkname)))
			if err != nil {
				return true, fmt.Errorf("the hard link %s: %w", hdr.Name, err)
			}
			in, err := pathrs.Reopen(t, unix.O_RDONLY|unix.O_CLOEXEC)
			t.Close()
			if err != nil {
				return true, err
			}
			st, _ := in.Stat()
			err = w.file(in, st, to, uid, gid)
			in.Close()
			if err != nil {
				return true, err
			}
		}
	}
	if !errors.Is(err, io.EOF) {
		return true, fmt.Errorf("reading the archive %s: %w", rel, err)
	}
	return true, nil
}

func (w *writer) ownerFixed() bool {
	u, g := w.owner(nil)
	return u != 0 || g != 0
}

// dirAs makes the directory to (parents 0755, root's), resolved inside
// the root, with fi's mode and times and the owner uid:gid.
func (w *writer) dirAs(to string, fi fs.FileInfo, uid, gid int) error {
	if path.Clean("/"+to) == "/" {
		return nil
	}
	h, err := pathrs.MkdirAllHandle(w.root, to, 0o755)
	if err != nil {
		return fmt.Errorf("making %s: %w", to, err)
	}
	defer h.Close()
	if err := unix.Fchownat(int(h.Fd()), "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("chown %s: %w", to, err)
	}
	d, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Fchmod(int(d.Fd()), unixMode(fi.Mode(), w.perm(fi))); err != nil {
		return fmt.Errorf("chmod %s: %w", to, err)
	}
	return setTimes(int(d.Fd()), "", fi, unix.AT_EMPTY_PATH)
}

// lookupOwner resolves --chown's USER[:GROUP] in the new root's
// /etc/passwd and /etc/group (opened inside it); a user with no group
// gives its UID as the GID too, as docker does.
func lookupOwner(root *os.File, chown string) (int, int, error) {
	u, g, hasGroup := strings.Cut(chown, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		users, err := readIn(root, "/etc/passwd", func(r io.Reader) (any, error) {
			return user.ParsePasswdFilter(r, func(x user.User) bool { return x.Name == u })
		})
		if err != nil || len(users.([]user.User)) == 0 {
			return 0, 0, fmt.Errorf("--chown=%s: no user %q in the image's /etc/passwd", chown, u)
		}
		uid = users.([]user.User)[0].Uid
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			groups, err := readIn(root, "/etc/group", func(r io.Reader) (any, error) {
				return user.ParseGroupFilter(r, func(x user.Group) bool { return x.Name == g })
			})
			if err != nil || len(groups.([]user.Group)) == 0 {
				return 0, 0, fmt.Errorf("--chown=%s: no group %q in the image's /etc/group", chown, g)
			}
			gid = groups.([]user.Group)[0].Gid
		}
	}
	return uid, gid, nil
}

func readIn(root *os.File, p string, parse func(io.Reader) (any, error)) (any, error) {
	h, err := pathrs.OpenatInRoot(root, p)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f)
}
