package inner

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"usandbox/internal/archive"
	"usandbox/internal/proto"
	"usandbox/internal/wire"
)

// CopyMain is role Copy: one operation of cp, export or the API's
// archive on a sandbox's files (see internal/proto's copy protocol). The
// C stage left this process root in the sandbox's user namespace, in the
// running sandbox's mount namespace (so "/" is the sandbox's root, its
// volumes mounted) or in a mount namespace of its own, where the
// stopped sandbox's overlay is mounted here first. Every path is
// resolved inside that root, fd-relative (package internal/archive).
func CopyMain(conn *os.File) int {
	var req proto.CopyRequest
	if _, err := wire.Recv(conn, &req); err != nil {
		return proto.ExitFailed // the parent is gone: nobody to report to
	}
	send := func(m proto.CopyReply) error {
		m.Kind = proto.KindCopyReply
		return wire.Send(conn, m)
	}
	fail := func(err error) int {
		send(proto.CopyReply{Err: err.Error(), NotFound: errors.Is(err, archive.ErrNotFound), NotDir: errors.Is(err, archive.ErrNotDir)})
		return proto.ExitFailed
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail(fmt.Errorf("making the copy helper non-dumpable: %w", err))
	}
	rootDir := "/"
	if s := req.Mount; s != nil {
		// A mount namespace of our own: nothing mounted here reaches
		// the host's, and it all goes when this process ends.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fail(fmt.Errorf("making the helper's mounts private: %w", err))
		}
		if err := mountRootfs(s); err != nil {
			return fail(err)
		}
		// The overlay is this process's root from here on: the host's
		// files are out of reach even of a path that the resolution
		// below would let escape (it does not).
		if err := unix.Chroot(s.Rootfs.Target); err != nil {
			return fail(fmt.Errorf("entering the sandbox's root: %w", err))
		}
		if err := unix.Chdir("/"); err != nil {
			return fail(fmt.Errorf("entering the sandbox's root: %w", err))
		}
		// Unmounted before the end: a fuse-overlayfs daemon ends with it.
		defer unix.Unmount("/", unix.MNT_DETACH)
	}
	root, err := archive.OpenRoot(rootDir)
	if err != nil {
		return fail(fmt.Errorf("opening the sandbox's root: %w", err))
	}
	defer root.Close()
	path := req.Path
	if req.Op == proto.CopyExport {
		path = "/"
	}
	st, err := root.Stat(path)
	if err != nil {
		return fail(err)
	}
	if req.Op == proto.CopyPut && !st.Mode.IsDir() {
		return fail(archive.ErrNotDir)
	}
	if err := send(proto.CopyReply{Stat: &st}); err != nil {
		return proto.ExitFailed
	}
	switch req.Op {
	case proto.CopyStat:
		return 0
	case proto.CopyGet:
		err = root.Archive(os.Stdout, path, archive.ArchiveOptions{})
	case proto.CopyExport:
		err = root.Archive(os.Stdout, "/", archive.ArchiveOptions{OneFileSystem: true, Contents: true})
	case proto.CopyPut:
		err = root.Extract(os.Stdin, path, archive.ExtractOptions{NoOverwriteDirNonDir: req.NoOverwriteDirNonDir, Chown: req.CopyUIDGID})
	default:
		err = fmt.Errorf("unknown copy operation %q", req.Op)
	}
	os.Stdout.Close()
	if err != nil {
		return fail(err)
	}
	if err := send(proto.CopyReply{Done: true}); err != nil {
		return proto.ExitFailed
	}
	return 0
}
