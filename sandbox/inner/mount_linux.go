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
// file is set, an empty file.
func (r *root) resolve(path string, file bool) (int, error) {
	parts := strings.Split(filepath.Clean("/"+path), "/")[1:]
	if len(parts) == 1 && parts[0] == "" {
		return unix.Dup(r.fd)
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	cur := ""
	for i, p := range parts {
		cur += "/" + p
		last := i == len(parts)-1
		fd, err := unix.Openat2(r.fd, cur, &how)
		if err == nil {
			if last {
				return fd, nil
			}
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("resolving %s: %w", cur, err)
		}
		// Create it inside its (already resolved) parent.
		parent, err := unix.Openat2(r.fd, filepath.Dir(cur), &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			return -1, fmt.Errorf("resolving %s: %w", filepath.Dir(cur), err)
		}
		// An O_PATH directory fd serves as dirfd for *at calls.
		if last && file {
			var f int
			f, err = unix.Openat(parent, p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
			if err == nil {
				unix.Close(f)
			}
		} else {
			err = unix.Mkdirat(parent, p, 0o755)
		}
		unix.Close(parent)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("creating %s: %w", cur, err)
		}
		fd, err = unix.Openat2(r.fd, cur, &how)
		if err != nil {
			return -1, fmt.Errorf("resolving %s: %w", cur, err)
		}
		if last {
			return fd, nil
		}
		unix.Close(fd)
	}
	return -1, fmt.Errorf("resolving %s: empty path", path)
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
