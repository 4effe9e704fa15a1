package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/storage/index"
)

// A sandbox's lock (sandboxes/ID/lock) is held while anything of the
// sandbox lives: by its creator from Create to Start, then by its watcher
// and its keeper. Whatever a killed usandbox leaves is therefore
// recognised by a free lock, never by age: see reclaimStale.

// takeLock takes the lock of the stopped sandbox in dir (making the file
// if an older usandbox did not), under the names lock, so that
// reclaimStale never sees it free while the sandbox starts.
func takeLock(p index.Paths, dir string) (*os.File, error) {
	unlock, err := lockNames(p)
	if err != nil {
		return nil, err
	}
	defer unlock()
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the sandbox: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, ErrRunning
	}
	return lock, nil
}

// Reclaim removes what killed usandbox processes left (see reclaimStale).
// Commands that list or change sandboxes call it first.
func Reclaim(p index.Paths) error {
	if _, err := os.Stat(filepath.Join(p.Root, "sandboxes")); errors.Is(err, os.ErrNotExist) {
		return nil // a new store: nothing to reclaim, and nothing to make
	}
	unlock, err := lockNames(p)
	if err != nil {
		return err
	}
	defer unlock()
	reclaimStale(p)
	reclaimExits(p, time.Now())
	return nil
}

// reclaimStale removes what killed usandbox processes left, as far as
// this user may (files owned by the sandbox's sub-IDs stay for usandbox
// rm or system check --repair). It runs under the names lock, which
// Create holds while it makes a directory and Start while it takes a
// stopped sandbox's lock: a sandbox whose lock is free here is dead, and
// stays so until the names lock is released.
//
//   - an --rm sandbox ("autoremove") whose lock is free or missing: its
//     watcher and keeper are dead (the keeper removed the upper layer when
//     the sandbox ended; if the keeper died too, the sub-ID files stay);
//   - a directory still under its temporary name (creatingPrefix) whose
//     lock is free: a Create killed midway (a directory under its ID
//     without a record lost it later: system check reports it);
//   - RUNROOT/net/SHORTID, the network drivers' state, unless a sandbox
//     with that short ID holds its lock;
//   - RUNROOT/locks/ID.lock (the operation locks of start, stop, rm)
//     whose sandbox is gone and that nobody holds.
func reclaimStale(p index.Paths) {
	base := filepath.Join(p.Root, "sandboxes")
	ents, _ := os.ReadDir(base)
	live := map[string]bool{} // short IDs of sandboxes whose lock is held
	exists := map[string]bool{}
	for _, e := range ents {
		dir := filepath.Join(base, e.Name())
		exists[e.Name()] = true
		lock, free := tryLock(dir)
		if !free {
			live[ShortID(e.Name())] = true
			continue
		}
		if isStale(dir) && os.RemoveAll(dir) == nil {
			delete(exists, e.Name())
		}
		if lock != nil {
			lock.Close()
		}
	}
	if nets, err := os.ReadDir(filepath.Join(p.RunRoot, "net")); err == nil {
		for _, e := range nets {
			if !live[e.Name()] {
				os.RemoveAll(filepath.Join(p.RunRoot, "net", e.Name()))
			}
		}
	}
	if locks, err := os.ReadDir(filepath.Join(p.RunRoot, "locks")); err == nil {
		for _, e := range locks {
			id, ok := strings.CutSuffix(e.Name(), ".lock")
			if !ok || exists[id] {
				continue
			}
			path := filepath.Join(p.RunRoot, "locks", e.Name())
			if f, _ := tryLockFile(path); f != nil {
				os.Remove(path)
				f.Close()
			}
		}
	}
}

// tryLock takes the lock of the sandbox in dir if it is free; lock is nil
// when the directory has no lock file (free is then true).
func tryLock(dir string) (lock *os.File, free bool) {
	return tryLockFile(filepath.Join(dir, lockFile))
}

// tryLockFile takes the lock at path if it is free; lock is nil when
// there is no such file (free is then true).
func tryLockFile(path string) (lock *os.File, free bool) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, true
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// creatingPrefix names a sandbox directory that Create is making.
const creatingPrefix = ".creating-"

// isStale: the dead sandbox in dir is one that nobody should see again,
// an --rm sandbox or one whose Create was killed.
func isStale(dir string) bool {
	if strings.HasPrefix(filepath.Base(dir), creatingPrefix) {
		return true
	}
	_, err := os.Lstat(filepath.Join(dir, autoRemoveFile))
	return err == nil
}
