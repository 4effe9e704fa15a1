package build

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mount mounts an overlay of lowers (top first) at target: writable over
// upper and work when upper is given, else read-only. It must run in a
// mount namespace of its own, inside the user namespace that owns the
// store (usandbox-image's), as the overlay uses user xattrs. Layers are
// passed one fsconfig call each, so their number is not bounded by a
// page of options; with fewer lowers than overlay needs (one, or two for
// a read-only mount), empty ones are made in target's parent.
func Mount(lowers []string, upper, work, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("mounting the image's layers: %w", err)
	}
	defer unix.Close(fd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fd, k, v); err != nil {
			return fmt.Errorf("mounting the image's layers: %s=%s: %w", k, v, err)
		}
		return nil
	}
	// A read-only overlay needs two lower layers (EINVAL with one, as
	// for COPY --from a one-layer image): empty ones make up the number.
	need := 1
	if upper == "" {
		need = 2
	}
	for i := 0; len(lowers) < need; i++ {
		empty := filepath.Join(filepath.Dir(target), fmt.Sprintf("empty%d", i))
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return err
		}
		lowers = append(lowers, empty)
	}
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	if upper != "" {
		if err := set("upperdir", upper); err != nil {
			return err
		}
		if err := set("workdir", work); err != nil {
			return err
		}
	}
	if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
		return fmt.Errorf("mounting the image's layers: userxattr: %w", err)
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("mounting the image's layers: %w", err)
	}
	attr := unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID
	if upper == "" {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("mounting the image's layers: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounting the image's layers: %w", err)
	}
	return nil
}

// Unmount detaches what Mount mounted.
func Unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting %s: %w", target, err)
	}
	return nil
}
