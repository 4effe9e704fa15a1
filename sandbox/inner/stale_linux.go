package inner

import (
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// cleanStale removes the directories of --rm sandboxes whose usandbox was
// killed before it could: their lock is free and they asked to be
// removed. It runs in a sandbox's init because their upper layers belong
// to sub-IDs, which only a user namespace with the same map can delete.
// dir is an fd (O_PATH) of the sandboxes directory; own is skipped.
func cleanStale(dir int, own string) {
	base := fdPath(dir)
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Name() == own || !e.IsDir() {
			continue
		}
		sb := filepath.Join(base, e.Name())
		if _, err := os.Stat(filepath.Join(sb, "autoremove")); err != nil {
			continue // kept sandboxes are removed by usandbox rm
		}
		lock, err := os.OpenFile(filepath.Join(sb, "lock"), os.O_RDWR, 0)
		if err != nil {
			// No lock yet: being created right now, unless it is old.
			if fi, err := os.Stat(sb); err != nil || time.Since(fi.ModTime()) < time.Minute {
				continue
			}
		} else {
			err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			if err != nil {
				lock.Close()
				continue // alive
			}
		}
		os.RemoveAll(sb)
		if lock != nil {
			lock.Close()
		}
	}
}
