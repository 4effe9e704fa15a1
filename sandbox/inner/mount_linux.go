package inner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

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
// target created inside the root, never outside. The final open uses
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
	how := unix.OpenHow{
		Flags:   uint64(unix.O_PATH | unix.O_CLOEXEC | flags),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(r.fd, path, &how)
	if err != nil {
		return -1, fmt.Errorf("resolving %s: %w", path, err)
	}
	return fd, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// mount mounts onto dest inside the root; dest is created as a directory,
// or as a file when file is set (for binding a file).
func (r *root) mount(source, dest, fstype string, flags uintptr, data string, file bool) error {
	fd, err := r.resolve(dest, file)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mount(source, fdPath(fd), fstype, flags, data); err != nil {
		what := fstype
		if flags&unix.MS_BIND != 0 {
			what = "bind " + source
		}
		return fmt.Errorf("mounting %s on %s: %w", what, dest, err)
	}
	return nil
}

// remountReadOnly makes the mount at path (an absolute path, after
// pivot_root) read-only, keeping the flags the kernel locked on it in
// the user namespace (nosuid, nodev, noexec), or the remount fails.
func remountReadOnly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("remounting %s read-only: %w", path, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", path, "", flags, ""); err != nil {
		return fmt.Errorf("remounting %s read-only: %w", path, err)
	}
	return nil
}

// fileExists reports whether path exists (after pivot_root).
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
