package inner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
)

// mountRootfs mounts the image's overlay on s.Rootfs.Target.
func mountRootfs(s *spec.Spec) error {
	r := s.Rootfs
	if r.MountProgram != "" {
		abs := make([]string, len(r.Lowers))
		for i, l := range r.Lowers {
			abs[i] = filepath.Join(r.Home, l)
		}
		o := "lowerdir=" + strings.Join(abs, ":") + ",upperdir=" + r.Upper + ",workdir=" + r.Work
		out, err := exec.Command(r.MountProgram, "-o", o, r.Target).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mounting the root filesystem with %s: %s: %w", r.MountProgram, strings.TrimSpace(string(out)), err)
		}
		return nil
	}
	if len(r.Lowers) > maxLayers {
		return fmt.Errorf("the image has %d layers, more than the %d overlay can stack: squash the image into fewer layers (podman build --squash, or docker export of a container piped to docker import)", len(r.Lowers), maxLayers)
	}
	var opts []string
	for _, l := range r.Lowers {
		opts = append(opts, "lowerdir+="+filepath.Join(r.Home, l))
	}
	if !s.ReadOnly || r.Upper != "" {
		opts = append(opts, "upperdir="+r.Upper, "workdir="+r.Work)
	}
	if r.UserXattr {
		opts = append(opts, "userxattr")
	}
	if s.AutoRemove {
		// The upper layer is thrown away: no sync at unmount.
		opts = append(opts, "volatile")
	}
	// One fsconfig call per layer (kernel 6.8+): no page-size limit on
	// the number of layers.
	mfd, err := newFS("overlay", opts, unix.MOUNT_ATTR_NODEV)
	if errors.Is(err, unix.EINVAL) {
		// Before 6.8 "lowerdir+" is unknown: refused when set (6.5+)
		// or when the filesystem is created (older kernels pass the
		// options on as one legacy string).
		return mountRootfsLegacy(s)
	}
	if err != nil {
		return fmt.Errorf("mounting the root filesystem: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, r.Target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounting the root filesystem: %w", err)
	}
	return nil
}

// maxLayers is overlay's limit on lower layers (OVL_MAX_STACK), with the
// new mount API and the legacy one alike.
const maxLayers = 500

// layerLinks is the directory of a sandbox (in its StateDir) that the
// legacy mount is made from: link i in it names layer i of Lowers.
const layerLinks = "layers"

// mountRootfsLegacy mounts the overlay with one option string, for
// kernels without "lowerdir+". The kernel copies at most a page of
// options, and storage's short links ("l/" + 26 characters, from the
// store) fit only about 130 layers next to the sandbox's upper and work
// paths. So, as storage does, the mount is made from a directory with
// relative names, only shorter: a directory of the sandbox with one
// link per layer named by its index, from which upper and work are
// "../upper" and "../work" — about 4 bytes a layer, so overlay's own
// limit of 500 layers comes first.
func mountRootfsLegacy(s *spec.Spec) error {
	r := s.Rootfs
	dir := filepath.Join(s.StateDir, layerLinks)
	// Links of an earlier start of this sandbox are made again.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("linking the layers: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("linking the layers: %w", err)
	}
	for i, l := range r.Lowers {
		if err := os.Symlink(filepath.Join(r.Home, l), filepath.Join(dir, strconv.Itoa(i))); err != nil {
			return fmt.Errorf("linking the layers: %w", err)
		}
	}
	opts := legacyOptions(s, dir)
	if len(opts) >= os.Getpagesize() {
		// Only absurdly long upper/work paths get here.
		return fmt.Errorf("the overlay options for %d layers are %d bytes, more than the %d this kernel takes before 6.8: use a kernel 6.8 or newer, or a shorter --runroot", len(r.Lowers), len(opts), os.Getpagesize()-1)
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("entering the layer links: %w", err)
	}
	if err := unix.Mount("overlay", r.Target, "overlay", unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting the root filesystem (overlay): %w", err)
	}
	return nil
}

// legacyOptions is the option string of a legacy overlay mount made from
// dir, in which the layers are the links 0, 1, … (top first).
func legacyOptions(s *spec.Spec, dir string) string {
	r := s.Rootfs
	var b strings.Builder
	b.WriteString("lowerdir=")
	for i := range r.Lowers {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(i))
	}
	if !s.ReadOnly || r.Upper != "" {
		b.WriteString(",upperdir=" + shorter(dir, r.Upper) + ",workdir=" + shorter(dir, r.Work))
	}
	if r.UserXattr {
		b.WriteString(",userxattr")
	}
	if s.AutoRemove {
		b.WriteString(",volatile")
	}
	return b.String()
}

// shorter is p relative to dir when that is shorter (overlay resolves
// relative paths from the working directory), else p.
func shorter(dir, p string) string {
	if rel, err := filepath.Rel(dir, p); err == nil && len(rel) < len(p) {
		return rel
	}
	return p
}

// Host devices bound into /dev: a user namespace cannot mknod them.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

const noSuidDevExec = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC

// setupMounts builds everything under the root before pivot_root.
func setupMounts(s *spec.Spec, r *root) error {
	fs := func(fstype, dest string, attrs int, opts ...string) error {
		mfd, err := newFS(fstype, opts, attrs)
		if err != nil {
			return err
		}
		return r.attach(mfd, dest, false, false)
	}
	if err := fs("proc", "/proc", noSuidDevExec); err != nil {
		return err
	}
	if err := mountDev(r, s); err != nil {
		return err
	}
	if s.Network == "host" {
		// Without a network namespace of our own, sysfs cannot be
		// mounted (EPERM): bind the host's, read-only.
		mfd, err := cloneTree("/sys", true)
		if err != nil {
			return err
		}
		if err := setAttrs(mfd, unix.MOUNT_ATTR_RDONLY, true); err != nil {
			unix.Close(mfd)
			return fmt.Errorf("making /sys read-only: %w", err)
		}
		if err := r.attach(mfd, "/sys", false, false); err != nil {
			return err
		}
	} else if err := fs("sysfs", "/sys", noSuidDevExec|unix.MOUNT_ATTR_RDONLY); err != nil {
		return err
	}
	if s.Cgroup {
		if err := fs("cgroup2", "/sys/fs/cgroup", noSuidDevExec|unix.MOUNT_ATTR_RDONLY); err != nil {
			return err
		}
	}
	var owner *execUser
	for i, m := range s.Mounts {
		if m.Type == "volume" && m.CopyUp {
			if err := copyUp(r, m); err != nil {
				return err
			}
		}
		if m.Chown && (m.Type == "bind" || m.Type == "volume") {
			if owner == nil {
				u, err := userInRoot(r, s.Process.User)
				if err != nil {
					return fmt.Errorf("the U option of %s: %w", m.Destination, err)
				}
				owner = u
			}
			if err := chownTree(m.Source, int(owner.UID), int(owner.GID)); err != nil {
				return err
			}
		}
		if m.Overlay {
			if err := mountOverlayVolume(r, s, i, m); err != nil {
				return err
			}
			continue
		}
		switch m.Type {
		case "bind", "volume":
			fi, err := os.Stat(m.Source)
			if err != nil {
				return fmt.Errorf("volume source: %w", err)
			}
			mfd, err := cloneTree(m.Source, true)
			if err != nil {
				return err
			}
			if m.ReadOnly {
				if err := setAttrs(mfd, unix.MOUNT_ATTR_RDONLY, true); err != nil {
					unix.Close(mfd)
					return fmt.Errorf("making %s read-only: %w", m.Destination, err)
				}
			}
			if err := r.attach(mfd, m.Destination, !fi.IsDir(), true); err != nil {
				return err
			}
		case "tmpfs":
			opts, attrs, err := mountOptions(m.Options)
			if err != nil {
				return err
			}
			if !hasOption(opts, "mode") {
				opts = append(opts, "mode=1777")
			}
			if m.ReadOnly {
				attrs |= unix.MOUNT_ATTR_RDONLY
			}
			mfd, err := newFS("tmpfs", opts, attrs|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
			if err != nil {
				return fmt.Errorf("--tmpfs %s: %w", m.Destination, err)
			}
			if err := r.attach(mfd, m.Destination, false, true); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown mount type %q", m.Type)
		}
	}
	return nil
}

// devLinks are the symlinks of a sandbox's /dev.
var devLinks = map[string]string{
	"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
	"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "/proc/kcore",
}

// mountDev mounts a fresh tmpfs on /dev and what goes in it: the host's
// devices (a user namespace cannot create device nodes), devpts, shm,
// mqueue and the symlinks. /dev is resolved inside the root (a symlink in
// the image may send it elsewhere in it); everything below is made in the
// tmpfs while it is still detached, and found again relative to its fd,
// one name at a time with no symlink followed, never by a path: the new
// tmpfs is this process's alone until the command runs.
func mountDev(r *root, s *spec.Spec) error {
	mfd, err := newFS("tmpfs", []string{"mode=755", "size=65536k"}, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_STRICTATIME)
	if err != nil {
		return err
	}
	// A detached mount's fd: freed whatever close says (the mount stays
	// once attached).
	defer unix.Close(mfd)
	devs := devices
	if s.Privileged {
		host, err := hostDevices()
		if err != nil {
			return err
		}
		devs = append(slices.Clone(devices), host...)
	}
	devs, binds := withDevices(devs, s.Devices)
	if err := makeDevTree(mfd, devs); err != nil {
		return err
	}
	t, err := r.target("/dev", false)
	if err != nil {
		return err
	}
	err = attachTo(mfd, int(t.Fd()))
	t.Close() // a directory fd, only read: nothing to report
	if err != nil {
		return fmt.Errorf("mounting on /dev: %w", err)
	}
	for _, d := range devs {
		src, err := cloneTree(binds[d], false)
		if err != nil {
			return err
		}
		if err := checkDevice(src, binds[d], s.Devices); err != nil {
			unix.Close(src) // a detached mount: freed whatever close says
			return err
		}
		if err := attachBelow(src, mfd, d); err != nil {
			return err
		}
	}
	pts := []string{"newinstance", "ptmxmode=0666", "mode=0620"}
	if !s.SingleID && ttyGroupMapped(s.GIDMap) {
		pts = append(pts, "gid=5") // the tty group, mapped only with a full map
	}
	for _, m := range []struct {
		name, fstype string
		attrs        int
		opts         []string
	}{
		{"pts", "devpts", unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, pts},
		{"shm", "tmpfs", noSuidDevExec, []string{"mode=1777", shmSize(s.ShmSize)}},
		{"mqueue", "mqueue", noSuidDevExec, nil},
	} {
		fs, err := newFS(m.fstype, m.opts, m.attrs)
		if err != nil {
			return err
		}
		if err := attachBelow(fs, mfd, m.name); err != nil {
			return err
		}
	}
	return nil
}

// makeDevTree makes in the detached tmpfs dev the mount points of /dev:
// an empty file for each device in devs ("null", "net/tun"), the
// directories pts, shm and mqueue, and the symlinks.
func makeDevTree(dev int, devs []string) error {
	for _, d := range []string{"pts", "shm", "mqueue"} {
		if err := unix.Mkdirat(dev, d, 0o755); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", d, err)
		}
	}
	for _, d := range devs {
		if dir, _, ok := strings.Cut(d, "/"); ok {
			if err := unix.Mkdirat(dev, dir, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("creating /dev/%s: %w", dir, err)
			}
		}
		fd, err := unix.Openat(dev, d, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("creating /dev/%s: %w", d, err)
		}
		unix.Close(fd) // an empty file, nothing written
	}
	for link, target := range devLinks {
		if err := unix.Symlinkat(target, dev, link); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", link, err)
		}
	}
	return nil
}

// attachBelow attaches the detached mount mfd on name below the
// directory dir, found with no symlink followed and without leaving dir;
// mfd is closed.
func attachBelow(mfd, dir int, name string) error {
	defer unix.Close(mfd) // a detached mount: freed whatever close says
	t, err := unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return fmt.Errorf("opening /dev/%s: %w", name, err)
	}
	defer unix.Close(t) // O_PATH: nothing to report
	if err := attachTo(mfd, t); err != nil {
		return fmt.Errorf("mounting on /dev/%s: %w", name, err)
	}
	return nil
}

// hostDevices lists, relative to /dev ("kvm", "net/tun"), the host's
// character devices that the user may open, to bind into the sandbox's
// /dev (podman's rootless --privileged): a user namespace cannot create
// device nodes, and gains no access to devices by being root in it.
func hostDevices() ([]string, error) {
	var names []string
	for _, dir := range []string{"/dev", "/dev/net"} {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue // no /dev/net on this host
		}
		if err != nil {
			return nil, fmt.Errorf("listing the host's devices: %w", err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			var st unix.Stat_t
			err := unix.Lstat(p, &st)
			if errors.Is(err, unix.ENOENT) {
				continue // removed since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("listing the host's devices: %w", err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFCHR {
				continue
			}
			if slices.Contains(devices, e.Name()) || e.Name() == "ptmx" || e.Name() == "console" {
				continue
			}
			if unix.Access(p, unix.R_OK) != nil && unix.Access(p, unix.W_OK) != nil {
				continue
			}
			names = append(names, strings.TrimPrefix(p, "/dev/"))
		}
	}
	return names, nil
}

func hasOption(opts []string, key string) bool {
	for _, o := range opts {
		if k, _, _ := strings.Cut(o, "="); k == key {
			return true
		}
	}
	return false
}

// pivot makes target the root and drops the old one (pivot_root, not
// chroot: the old root is unmounted, so nothing of the host stays
// reachable).
func pivot(target string) error {
	if err := unix.Chdir(target); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting the old root: %w", err)
	}
	return unix.Chdir("/")
}

// finishMounts runs after pivot_root: read-only paths, masked paths and
// the read-only root, each on an opened mount.
func finishMounts(s *spec.Spec) error {
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the new root: %w", err)
	}
	defer root.Close() // an O_PATH fd: close has nothing to report
	return hardenRoot(root, s, func() error { return addEntries(root, s) })
}

// hardenRoot binds the read-only paths, masks the masked ones, runs
// beforeRO (nil: nothing) while the root is still writable, and makes
// the root read-only if the spec says so.
func hardenRoot(root *os.File, s *spec.Spec, beforeRO func() error) error {
	for _, p := range s.ReadonlyPaths {
		if err := readOnlyPath(root, p); err != nil {
			return err
		}
	}
	if len(s.MaskedPaths) > 0 {
		if err := maskPaths(root, s.MaskedPaths); err != nil {
			return err
		}
	}
	if beforeRO != nil {
		if err := beforeRO(); err != nil {
			return err
		}
	}
	if s.ReadOnly {
		if err := setAttrs(int(root.Fd()), unix.MOUNT_ATTR_RDONLY, false); err != nil {
			return fmt.Errorf("making the root filesystem read-only: %w", err)
		}
	}
	return nil
}

// openIn opens path inside root (O_PATH), following symlinks only inside
// it and no magic link (/proc/self/fd/N); a path that is not there is
// (nil, nil).
func openIn(root *os.File, path string) (*os.File, error) {
	f, err := pathrs.OpenatInRoot(root, path)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	return f, nil
}

// readOnlyPath binds path over itself, read-only.
func readOnlyPath(root *os.File, path string) error {
	f, err := openIn(root, path)
	if f == nil {
		return err
	}
	defer f.Close() // O_PATH: nothing to report
	mfd, err := cloneFD(int(f.Fd()), true)
	if err != nil {
		return fmt.Errorf("binding %s: %w", path, err)
	}
	defer unix.Close(mfd) // a detached mount: freed whatever close says
	if err := setAttrs(mfd, unix.MOUNT_ATTR_RDONLY|noSuidDevExec, true); err != nil {
		return fmt.Errorf("making %s read-only: %w", path, err)
	}
	if err := attachTo(mfd, int(f.Fd())); err != nil {
		return fmt.Errorf("making %s read-only: %w", path, err)
	}
	return nil
}

// maskPaths hides files behind /dev/null and directories behind an empty
// read-only tmpfs. /dev/null is checked through its fd to really be the
// null device before use (CVE-2025-31133: a swapped /dev/null would
// otherwise let a path be bound anywhere).
func maskPaths(root *os.File, paths []string) error {
	null, err := openIn(root, "/dev/null")
	if err != nil {
		return err
	}
	if null == nil {
		return errors.New("masking paths: the sandbox has no /dev/null")
	}
	defer null.Close() // O_PATH: nothing to report
	var st unix.Stat_t
	if err := unix.Fstat(int(null.Fd()), &st); err != nil {
		return fmt.Errorf("checking /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return errors.New("/dev/null is not the null device")
	}
	for _, p := range paths {
		if err := maskPath(root, p, int(null.Fd())); err != nil {
			return err
		}
	}
	return nil
}

// maskPath hides one path (if it is there) behind null or a tmpfs.
func maskPath(root *os.File, path string, null int) error {
	f, err := openIn(root, path)
	if f == nil {
		return err
	}
	defer f.Close() // O_PATH: nothing to report
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("masking %s: %w", path, err)
	}
	var mfd int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		mfd, err = newFS("tmpfs", nil, unix.MOUNT_ATTR_RDONLY|noSuidDevExec)
	} else {
		mfd, err = cloneFD(null, false)
	}
	if err != nil {
		return fmt.Errorf("masking %s: %w", path, err)
	}
	defer unix.Close(mfd) // a detached mount: freed whatever close says
	if err := attachTo(mfd, int(f.Fd())); err != nil {
		return fmt.Errorf("masking %s: %w", path, err)
	}
	return nil
}

// loopbackUp brings "lo" up in the sandbox's own network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	return nil
}
