package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/storage/index"
)

// opLockPath is the operation lock of sandbox id.
func opLockPath(p index.Paths, id string) string {
	return filepath.Join(p.RunRoot, "locks", id+".lock")
}

// opLock takes sandbox id's operation lock (see the package comment),
// waiting for it as long as ctx allows. The lock file stays when it is
// released: only Remove deletes it, holding it, so a waiter that finds
// its file deleted under it (the sandbox was removed) takes the lock of
// a new file instead of a lock nobody else can see.
func opLock(ctx context.Context, p index.Paths, id string) (func(), error) {
	path := opLockPath(p, id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("locking sandbox %s: %w", id, err)
	}
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking sandbox %s: %w", id, err)
		}
		if err := flockCtx(ctx, f); err != nil {
			f.Close()
			return nil, err
		}
		// Still the file at path? Else it was removed meanwhile.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil &&
			held.Dev == now.Dev && held.Ino == now.Ino {
			return func() { f.Close() }, nil
		}
		f.Close()
	}
}

// flockCtx takes an exclusive flock of f, giving up when ctx ends.
func flockCtx(ctx context.Context, f *os.File) error {
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// removeOpLock deletes sandbox id's operation lock; its caller holds it.
func removeOpLock(p index.Paths, id string) {
	// A leftover lock file costs nothing and is never mistaken for
	// anything: failing to delete it is not worth reporting.
	_ = os.Remove(opLockPath(p, id))
}
