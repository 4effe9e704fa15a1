package inner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
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
// that every path inside it is resolved inside it, by pathrs-lite
// (openat2 RESOLVE_IN_ROOT where the kernel has it): a symlink in the
// image ("/proc -> /host/etc") can never lead a mount out of it.
type root struct {
	dir *os.File // what pathrs-lite resolves in
	fs  *os.Root // the same directory, read through by securejoin
}

func openRoot(path string) (*root, error) {
	fs, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("opening the root filesystem: %w", err)
	}
	dir, err := fs.Open(".")
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("opening the root filesystem: %w", err)
	}
	return &root{dir: dir, fs: fs}, nil
}

// close releases the root's two fds. Closing a directory fd frees it
// whatever close returns, and nothing was written through them: there is
// no error to act on.
func (r *root) close() {
	_ = r.dir.Close()
	_ = r.fs.Close()
}

// target opens dest inside the root, creating what is missing:
// directories on the way, and dest itself as a directory or, if file is
// set, as an empty file. A symlink on the way is followed as if the root
// were "/" (an absolute target starts again at the root, ".." stops
// there), and a dangling one gets its target created inside the root, as
// docker does, never outside.
//
// pathrs-lite refuses dangling symlinks, so, as runc does, securejoin
// first spells them out into a path with no symlink in it; it reads the
// root only through os.Root, which never leaves it. That path is just a
// name: pathrs-lite resolves it again inside the root, so a symlink
// swapped in meanwhile still cannot lead out.
func (r *root) target(dest string, file bool) (*os.File, error) {
	// Most targets are there already: one look-up.
	f, err := pathrs.OpenatInRoot(r.dir, dest)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("resolving %s: %w", dest, err)
	}
	p, err := securejoin.SecureJoinVFS("/", dest, rootVFS{r.fs})
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dest, err)
	}
	if !file {
		d, err := pathrs.MkdirAllHandle(r.dir, p, 0o755)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", dest, err)
		}
		return d, nil
	}
	parent, name := filepath.Split(p)
	if name == "" {
		return nil, fmt.Errorf("mounting a file on %s: it is the root directory", dest)
	}
	// The parent is most often there (/etc): opened, not made, when it is.
	d, err := pathrs.OpenatInRoot(r.dir, parent)
	if errors.Is(err, unix.ENOENT) {
		d, err = pathrs.MkdirAllHandle(r.dir, parent, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	defer d.Close() // a directory fd, only read: nothing to report
	// O_EXCL: a new empty file, or nothing; whatever is there already (a
	// symlink, a fifo, a device) is never opened by this call.
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
	switch {
	case err == nil:
		_ = unix.Close(fd) // a new empty file, nothing written: likewise
	case !errors.Is(err, unix.EEXIST):
		return nil, fmt.Errorf("creating %s: %w", dest, err)
	}
	// One name in a directory inside the root, no symlink followed. If a
	// symlink took the file's place meanwhile, it is resolved again,
	// inside the root.
	fd, err = unix.Openat(int(d.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dest, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("opening %s: %w", dest, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return os.NewFile(uintptr(fd), dest), nil
	}
	unix.Close(fd)
	if f, err = pathrs.OpenatInRoot(r.dir, p); err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dest, err)
	}
	return f, nil
}

// rootVFS lets securejoin read a directory tree through an os.Root: the
// names it asks for ("/" joined with a path in the root) are taken
// relative to the root, and os.Root refuses whatever would leave it.
type rootVFS struct{ fs *os.Root }

func (v rootVFS) Lstat(name string) (os.FileInfo, error) { return v.fs.Lstat(inRoot(name)) }
func (v rootVFS) Readlink(name string) (string, error)   { return v.fs.Readlink(inRoot(name)) }

func inRoot(name string) string {
	if name = strings.TrimLeft(name, "/"); name == "" {
		return "."
	}
	return name
}

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

// attach opens dest inside the root (see target), checks it, and
// attaches mfd there; mfd is closed. A user's mount (user) may not land
// on /proc or /sys, wherever a symlink points.
func (r *root) attach(mfd int, dest string, file, user bool) error {
	// A detached mount's fd: closing it frees it (and the mount, if it
	// was never attached) whatever close returns.
	defer unix.Close(mfd)
	t, err := r.target(dest, file)
	if err != nil {
		return err
	}
	defer t.Close()
	if user {
		if err := checkTarget(int(t.Fd()), dest); err != nil {
			return err
		}
	}
	if err := attachTo(mfd, int(t.Fd())); err != nil {
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
