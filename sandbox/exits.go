package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"usandbox/storage/index"
)

// An --rm sandbox takes its exit record with it. Its status is kept a
// while in the run root instead (RunRoot/exits/ID, as podman's conmon
// writes to its exit directory), for those that wait for it to be
// removed: docker run --rm through the Engine API asks the status after
// the sandbox is gone.

// exitsKeep is how long the status of a removed sandbox is kept.
const exitsKeep = 5 * time.Minute

// ExitsDir is where the statuses of removed --rm sandboxes are kept.
func ExitsDir(p index.Paths) string { return filepath.Join(p.RunRoot, "exits") }

// writeRemovedExit keeps the status of the --rm sandbox id, which is
// being removed. Errors are the caller's to report.
func writeRemovedExit(p index.Paths, id string, code int, oom bool) error {
	dir := ExitsDir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if oom {
		code = 137
	}
	// Written whole, then renamed: a waiter reads all of it or nothing.
	tmp := filepath.Join(dir, "."+id)
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(code)), 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, id))
}

// RemovedExit is the status of the removed --rm sandbox id, if it is
// still kept.
func RemovedExit(p index.Paths, id string) (code int, ok bool) {
	b, err := os.ReadFile(filepath.Join(ExitsDir(p), id))
	if err != nil {
		return 0, false
	}
	code, err = strconv.Atoi(strings.TrimSpace(string(b)))
	return code, err == nil
}

// reclaimExits drops the statuses kept longer than exitsKeep.
func reclaimExits(p index.Paths, now time.Time) {
	dir := ExitsDir(p)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err == nil && now.Sub(fi.ModTime()) > exitsKeep {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
