package inner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
)

// mountRootfs mounts the image's overlay on s.Rootfs.Target.
func mountRootfs(s *spec.Spec) error {
	r := s.Rootfs
	opts := "lowerdir=" + strings.Join(r.Lowers, ":")
	if !s.ReadOnly || r.Upper != "" {
		opts += ",upperdir=" + r.Upper + ",workdir=" + r.Work
	}
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
	if r.UserXattr {
		opts += ",userxattr"
	}
	if s.AutoRemove {
		// The upper layer is thrown away: no sync at unmount.
		opts += ",volatile"
	}
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("the image has too many layers (%d) for one overlay mount", len(r.Lowers))
	}
	// Lowers are relative to Home (short links): mount from there.
	if err := unix.Chdir(r.Home); err != nil {
		return fmt.Errorf("entering the layer store: %w", err)
	}
	if err := unix.Mount("overlay", r.Target, "overlay", unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting the root filesystem (overlay): %w", err)
	}
	return nil
}

// Host devices bound into /dev: a user namespace cannot mknod them.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// setupMounts builds everything under the root before pivot_root.
func setupMounts(s *spec.Spec, r *root) error {
	if err := r.mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "", false); err != nil {
		return err
	}
	if err := r.mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k", false); err != nil {
		return err
	}
	for _, d := range devices {
		if err := r.mount("/dev/"+d, "/dev/"+d, "", unix.MS_BIND, "", true); err != nil {
			return err
		}
	}
	ptsOpts := "newinstance,ptmxmode=0666,mode=0620"
	if !s.SingleID {
		ptsOpts += ",gid=5" // the tty group, mapped only with a full map
	}
	if err := r.mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, ptsOpts, false); err != nil {
		return err
	}
	if err := r.mount("shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k", false); err != nil {
		return err
	}
	if err := r.mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "", false); err != nil {
		return err
	}
	for link, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "/proc/kcore",
	} {
		// /dev is our fresh tmpfs: plain paths are safe here.
		if err := os.Symlink(target, filepath.Join(s.Rootfs.Target, "dev", link)); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", link, err)
		}
	}
	if s.Network == "host" {
		// Without a network namespace of our own, sysfs cannot be
		// mounted (EPERM): bind the host's.
		if err := r.mount("/sys", "/sys", "", unix.MS_BIND|unix.MS_REC, "", false); err != nil {
			return err
		}
	} else if err := r.mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, "", false); err != nil {
		return err
	}
	if s.Cgroup {
		if err := r.mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, "", false); err != nil {
			return err
		}
	}
	for _, m := range s.Mounts {
		switch m.Type {
		case "bind":
			fi, err := os.Stat(m.Source)
			if err != nil {
				return fmt.Errorf("volume source: %w", err)
			}
			if err := r.mount(m.Source, m.Destination, "", unix.MS_BIND|unix.MS_REC, "", !fi.IsDir()); err != nil {
				return err
			}
		case "tmpfs":
			opts := m.Options
			if opts == "" {
				opts = "mode=1777"
			}
			if err := r.mount("tmpfs", m.Destination, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts, false); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown mount type %q", m.Type)
		}
	}
	return nil
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

// finishMounts runs after pivot_root: read-only remounts, masked paths.
func finishMounts(s *spec.Spec) error {
	if s.Network != "host" {
		// sysfs was mounted read-only already.
	} else if err := remountReadOnly("/sys"); err != nil {
		return err
	}
	for _, m := range s.Mounts {
		if m.ReadOnly {
			if err := remountReadOnly(m.Destination); err != nil {
				return err
			}
		}
	}
	for _, p := range s.ReadonlyPaths {
		if !fileExists(p) {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s: %w", p, err)
		}
		if err := remountReadOnly(p); err != nil {
			return err
		}
	}
	if err := maskPaths(s.MaskedPaths); err != nil {
		return err
	}
	if s.ReadOnly {
		if err := remountReadOnly("/"); err != nil {
			return err
		}
	}
	return nil
}

// maskPaths hides files behind /dev/null and directories behind an empty
// read-only tmpfs. /dev/null is checked through its fd to really be the
// null device before use (CVE-2025-31133: a swapped /dev/null would
// otherwise let a path be bound anywhere).
func maskPaths(paths []string) error {
	null, err := unix.Open("/dev/null", unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/null: %w", err)
	}
	defer unix.Close(null)
	var st unix.Stat_t
	if err := unix.Fstat(null, &st); err != nil {
		return fmt.Errorf("checking /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return errors.New("/dev/null is not the null device")
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
		} else {
			err = unix.Mount(fdPath(null), p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
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
