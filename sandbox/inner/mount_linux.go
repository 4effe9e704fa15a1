package inner

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mounts are made with the new mount API: a filesystem is created (fsopen,
// fsmount) or a tree cloned (open_tree) as a detached mount, its flags
// (read-only, nosuid, ...) are set on that detached mount (mount_setattr),
// and only then is it attached (move_mount) onto a target that was opened
// inside the root. Nothing is ever remounted by path afterwards, so a path
// swapped under us (a shared volume, a symlink in the image) can neither
// move a mount out of the root nor make it lose its flags.

// root is the sandbox's root filesystem before pivot_root, held open so
// that every path inside it is resolved with RESOLVE_IN_ROOT: a symlink in
// the image ("/proc -> /host/etc") can never lead a mount out of it.
type root struct {
	path string
	fd   int
}

func openRoot(path string) (*root, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the root filesystem: %w", err)
	}
	return &root{path: path, fd: fd}, nil
}

func (r *root) close() { unix.Close(r.fd) }

// resolve opens path inside the root (O_PATH), creating what is missing:
// directories on the way, and the last component as a directory or, if
// file is set, an empty file. Symlinks are followed by hand, component by
// component, as if the root were "/" (absolute targets restart at the
// root, ".." stops there), so that a dangling link in the image gets its
// target created inside the root, never outside. Each step is opened with
// RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS on the resolved path.
func (r *root) resolve(path string, file bool) (int, error) {
	todo := splitPath(path)
	cur := "/" // resolved: no symlinks in it
	links := 0
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		parent, err := r.openResolved(cur, unix.O_DIRECTORY)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		err = unix.Fstatat(parent, comp, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case errors.Is(err, unix.ENOENT):
			if len(todo) == 0 && file {
				var f int
				f, err = unix.Openat(parent, comp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
				if err == nil {
					unix.Close(f)
				}
			} else {
				err = unix.Mkdirat(parent, comp, 0o755)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(parent)
				return -1, fmt.Errorf("creating %s: %w", filepath.Join(cur, comp), err)
			}
			cur = filepath.Join(cur, comp)
		case err != nil:
			unix.Close(parent)
			return -1, fmt.Errorf("resolving %s: %w", filepath.Join(cur, comp), err)
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			if links++; links > 40 {
				unix.Close(parent)
				return -1, fmt.Errorf("resolving %s: %w", path, unix.ELOOP)
			}
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(parent, comp, buf)
			if err != nil {
				unix.Close(parent)
				return -1, fmt.Errorf("resolving %s: %w", filepath.Join(cur, comp), err)
			}
			target := string(buf[:n])
			if strings.HasPrefix(target, "/") {
				cur = "/"
			}
			todo = append(splitPath(target), todo...)
		default:
			cur = filepath.Join(cur, comp)
		}
		unix.Close(parent)
	}
	return r.openResolved(cur, 0)
}

// openResolved opens a path that has no symlinks left, staying in the root.
func (r *root) openResolved(path string, flags int) (int, error) {
	return openInRoot(r.fd, path, flags)
}

// openInRoot opens path (O_PATH) below the directory rootfd as if it were
// "/", following no symlink and no magic link (/proc/self/fd/N).
func openInRoot(rootfd int, path string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(unix.O_PATH | unix.O_CLOEXEC | flags),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(rootfd, path, &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a rename elsewhere in the root: try again
		}
		if err != nil {
			return -1, fmt.Errorf("resolving %s: %w", path, err)
		}
		return fd, nil
	}
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// A detached mount: made, given its flags, then attached.

// newFS makes a detached mount of a new filesystem of fstype with the
// string options opts ("key=value" or a bare flag) and mount attributes
// attrs (unix.MOUNT_ATTR_*).
func newFS(fstype string, opts []string, attrs int) (int, error) {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("creating a %s filesystem: %w", fstype, err)
	}
	defer unix.Close(fs)
	for _, o := range opts {
		k, v, hasValue := strings.Cut(o, "=")
		if hasValue {
			err = unix.FsconfigSetString(fs, k, v)
		} else {
			err = unix.FsconfigSetFlag(fs, k)
		}
		if err != nil {
			return -1, fmt.Errorf("%s option %q: %w", fstype, o, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("creating a %s filesystem: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("mounting a %s filesystem: %w", fstype, err)
	}
	return mfd, nil
}

// cloneTree makes a detached copy of the mount(s) at the host path
// source (with every mount below it when recursive): a bind mount not
// attached anywhere yet.
func cloneTree(source string, recursive bool) (int, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, uint(flags))
	if err != nil {
		return -1, fmt.Errorf("binding %s: %w", source, err)
	}
	return fd, nil
}

// cloneFD is cloneTree for a file or directory already open (fd).
func cloneFD(fd int, recursive bool) (int, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	t, err := unix.OpenTree(fd, "", uint(flags))
	if err != nil {
		return -1, err
	}
	return t, nil
}

// setAttrs sets mount attributes on the mount mfd refers to (and every
// mount below it when recursive). Flags the kernel locked on a mount
// (nosuid, nodev, noexec of a mount made outside the user namespace) are
// only ever added to, never cleared.
func setAttrs(mfd int, set uint64, recursive bool) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	return unix.MountSetattr(mfd, "", flags, &unix.MountAttr{Attr_set: set})
}

// attachTo attaches the detached mount mfd onto the opened target.
func attachTo(mfd, target int) error {
	return unix.MoveMount(mfd, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
}

// attach resolves dest inside the root (created as a directory, or as a
// file when file is set), checks it, and attaches mfd there; mfd is
// closed. A user's mount (user) may not land on /proc or /sys, wherever a
// symlink points.
func (r *root) attach(mfd int, dest string, file, user bool) error {
	defer unix.Close(mfd)
	fd, err := r.resolve(dest, file)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if user {
		if err := checkTarget(fd, dest); err != nil {
			return err
		}
	}
	if err := attachTo(mfd, fd); err != nil {
		return fmt.Errorf("mounting on %s: %w", dest, err)
	}
	return nil
}

// checkTarget refuses a mount target on procfs or sysfs: runc's rule, and
// what keeps a volume whose path a symlink redirects from covering a
// kernel interface.
func checkTarget(fd int, dest string) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("checking the mount target %s: %w", dest, err)
	}
	switch st.Type {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC:
		return fmt.Errorf("mount destination %s resolves into /proc or /sys: pick another destination", dest)
	}
	return nil
}

// mountOptions splits a tmpfs option string ("size=64m,mode=1777,noexec")
// into filesystem options and mount attributes.
func mountOptions(opts string) (fsOpts []string, attrs int, err error) {
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "":
		case "ro":
			attrs |= unix.MOUNT_ATTR_RDONLY
		case "nosuid":
			attrs |= unix.MOUNT_ATTR_NOSUID
		case "nodev":
			attrs |= unix.MOUNT_ATTR_NODEV
		case "noexec":
			attrs |= unix.MOUNT_ATTR_NOEXEC
		case "noatime":
			attrs |= unix.MOUNT_ATTR_NOATIME
		case "rw", "suid", "dev", "exec", "relatime", "strictatime":
		default:
			fsOpts = append(fsOpts, o)
		}
	}
	return fsOpts, attrs, nil
}
