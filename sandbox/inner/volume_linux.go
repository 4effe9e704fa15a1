package inner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
	"usandbox/volume"
)

// A volume's copy-up, as docker and podman do it: the first time a new
// volume is mounted over a directory of the image that has files, those
// files are copied into the volume, with their owners, modes and times
// (podman: only while the volume says NeedsCopyUp, only into an empty
// volume, CVE-2020-1726). It runs here, in the sandbox's user namespace,
// as its root, so the image's owners (sub-IDs) can be given.
//
// Both sides are walked fd-relative, one name at a time: the image side
// from the directory resolved inside the root (pathrs-lite: a symlink at
// or above the volume path stays inside the root), never following a
// symlink below it (a symlink is copied as a symlink, never read
// through) nor entering another filesystem; the volume side only ever
// creates new names (O_EXCL, mkdirat) and opens what it created with
// O_NOFOLLOW, so a sandbox that shares the volume and swaps a name for a
// symlink meanwhile makes the copy fail, never write elsewhere.
// Special files (devices, fifos, sockets) are not copied: a user
// namespace cannot make device nodes, and docker's copy skips nothing
// else that a sandbox needs.

// copyUp fills the volume mounted at m (m.Source is its _data) from the
// image's files at m.Destination, if the volume still waits for it.
func copyUp(r *root, m spec.Mount) error {
	vd, err := unix.Open(filepath.Dir(m.Source), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	defer unix.Close(vd)
	// One copy-up at a time per volume: two sandboxes starting on a new
	// volume do not both fill it.
	if err := unix.Flock(vd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking volume %s: %w", m.Name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(vd, volume.CopyUpMarker, &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		return nil // filled before, or never to be
	} else if err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	src, err := pathrs.OpenatInRoot(r.dir, m.Destination)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing in the image there: the next sandbox may have some
	}
	if err != nil {
		return fmt.Errorf("volume %s: resolving %s: %w", m.Name, m.Destination, err)
	}
	defer src.Close()
	dir, err := pathrs.Reopen(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if errors.Is(err, unix.ENOTDIR) {
		return nil // a file: the volume covers it, nothing to copy
	}
	if err != nil {
		return fmt.Errorf("volume %s: opening %s: %w", m.Name, m.Destination, err)
	}
	defer dir.Close()
	names, err := dirNames(int(dir.Fd()))
	if err != nil || len(names) == 0 {
		return err
	}
	data, err := unix.Openat(vd, volume.DataDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	defer unix.Close(data)
	if have, err := dirNames(data); err != nil || len(have) > 0 {
		// Filled by someone else: never copied over (podman's rule).
		return err
	}
	// Cleared first: a copy that fails half-way is not tried again over
	// what it left (podman's order).
	if err := unix.Unlinkat(vd, volume.CopyUpMarker, 0); err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	var top unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &top); err != nil {
		return err
	}
	c := copier{dev: top.Dev}
	if err := c.dir(int(dir.Fd()), data); err != nil {
		return fmt.Errorf("copying %s of the image into volume %s: %w", m.Destination, m.Name, err)
	}
	// The volume's root takes the image directory's owner and mode, as
	// podman gives it.
	if err := setMeta(data, "", &top); err != nil {
		return fmt.Errorf("copying %s of the image into volume %s: %w", m.Destination, m.Name, err)
	}
	return nil
}

// dirNames lists the directory fd (read through a duplicate, so fd stays
// open and unread).
func dirNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}

// copier copies a tree of one filesystem (dev).
type copier struct{ dev uint64 }

// dir copies the entries of directory src into directory dst.
func (c copier) dir(src, dst int) error {
	names, err := dirNames(src)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.entry(src, dst, name); err != nil {
			return err
		}
	}
	return nil
}

// entry copies src/name to dst/name, a new name there.
func (c copier) entry(src, dst int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Dev != c.dev {
		return nil // a mount point: another filesystem is not the image's
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer unix.Close(d)
		s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer unix.Close(s)
		if err := c.dir(s, d); err != nil {
			return fmt.Errorf("%s/%w", name, err)
		}
		return setMeta(d, "", &st)
	case unix.S_IFREG:
		s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		sf := os.NewFile(uintptr(s), name)
		defer sf.Close()
		d, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		df := os.NewFile(uintptr(d), name)
		defer df.Close()
		if _, err := io.Copy(df, sf); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return setMeta(d, "", &st)
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(src, name, buf)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		// The link's text, as it is: read by nobody here.
		if err := unix.Symlinkat(string(buf[:n]), dst, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return setMeta(dst, name, &st)
	}
	return nil // devices, fifos, sockets: see above
}

// setMeta gives fd (or, with name, the symlink name in directory fd) the
// owner, mode and times of st. The owner goes first: a chown clears the
// setuid and setgid bits.
func setMeta(fd int, name string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if name != "" {
		if err := unix.Fchownat(fd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return unix.UtimesNanoAt(fd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
		return err
	}
	return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
}

// chownTree (the U option) gives the tree at the host path source, and
// everything below it on its filesystem, to uid:gid, fd-relative, never
// following a symlink (a symlink itself is chowned).
func chownTree(source string, uid, gid int) error {
	fd, err := unix.Open(source, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("chowning %s: it is a symlink", source)
	}
	if err != nil {
		return fmt.Errorf("chowning %s: %w", source, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := chownFD(fd, &st, st.Dev, uid, gid); err != nil {
		return fmt.Errorf("chowning %s (the U option): %w", source, err)
	}
	return nil
}

func chownFD(fd int, st *unix.Stat_t, dev uint64, uid, gid int) error {
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		names, err := dirNames(fd)
		if err != nil {
			return err
		}
		for _, name := range names {
			var cst unix.Stat_t
			if err := unix.Fstatat(fd, name, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if cst.Dev != dev {
				continue // a mount point
			}
			switch cst.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				c, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				err = chownFD(c, &cst, dev, uid, gid)
				unix.Close(c)
				if err != nil {
					return fmt.Errorf("%s/%w", name, err)
				}
			default:
				if err := unix.Fchownat(fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}
	// A chown clears setuid bits: kept, as chown(1) -R does not (podman
	// neither): what U asks is the owner.
	return unix.Fchown(fd, uid, gid)
}

// userInRoot resolves the command's user (as lookupUser does after
// pivot_root) against the passwd and group files of the root r, read
// inside it.
func userInRoot(r *root, user string) (*execUser, error) {
	read := func(path string) ([]byte, error) {
		h, err := pathrs.OpenatInRoot(r.dir, path)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		defer h.Close()
		f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	passwd, err := read("/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := read("/etc/group")
	if err != nil {
		return nil, err
	}
	return resolveUser(user, bytes.NewReader(passwd), bytes.NewReader(group))
}

// mountOverlayVolume mounts m (the i-th mount of s, with O) as an
// overlay: the host directory m.Source below, a new empty layer of the
// sandbox's above (what an earlier start wrote there is thrown away
// first, as podman throws it away when the sandbox ends).
func mountOverlayVolume(r *root, s *spec.Spec, i int, m spec.Mount) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("volume source: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the O option of %s needs a directory, not a file", m.Destination)
	}
	if strings.ContainsAny(m.Source, ":,\\") {
		// overlay reads ':' as a separator of lower layers.
		return fmt.Errorf("the O option of %s: overlay cannot take a directory whose path holds ':', ',' or '\\' (%s)", m.Destination, m.Source)
	}
	dir := filepath.Join(s.StateDir, spec.OverlayVolumesDir, strconv.Itoa(i))
	// os.RemoveAll works fd-relative and never follows a symlink; the
	// layer holds the sandbox's files, owned by its IDs: this process,
	// root of its user namespace, may delete them.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("the O option of %s: clearing the last start's layer: %w", m.Destination, err)
	}
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("the O option of %s: %w", m.Destination, err)
		}
	}
	// The layer's root is the host directory's: the sandbox sees the
	// directory's owner and mode.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(upper, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("the O option of %s: %w", m.Destination, err)
		}
		if err := os.Chmod(upper, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("the O option of %s: %w", m.Destination, err)
		}
	}
	opts := []string{"lowerdir=" + m.Source, "upperdir=" + upper, "workdir=" + work}
	if s.Rootfs.UserXattr {
		opts = append(opts, "userxattr")
	}
	attrs := unix.MOUNT_ATTR_NODEV
	if m.ReadOnly {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := newFS("overlay", opts, attrs)
	if err != nil {
		return fmt.Errorf("the O option of %s: %w", m.Destination, err)
	}
	return r.attach(mfd, m.Destination, false, true)
}
