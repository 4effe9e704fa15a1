package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"usandbox/storage/index"
)

// Kinds of Finding.
const (
	FindingNoLayers     = "no-layers"     // a sandbox whose image layers are gone
	FindingNoRecord     = "no-record"     // a sandbox directory without config.json
	FindingDamaged      = "damaged"       // a record that cannot be read
	FindingRmLeftover   = "rm-leftover"   // what is left of an ended --rm sandbox
	FindingStaleNetwork = "stale-network" // RUNROOT/net/SHORTID of a sandbox not running
	FindingStaleLock    = "stale-lock"    // RUNROOT/locks/ID.lock of a gone sandbox
)

// Finding is one inconsistency of a store (see Check).
type Finding struct {
	Kind string
	// ID is the sandbox's ID, or the name of the run-root entry.
	ID string
	// Detail says what is wrong, for one line.
	Detail string
	// Dir is the sandbox directory that a repair removes; it may hold
	// files of the sandbox's sub-IDs, so the remover must run in the
	// user namespace. Path is a run-root entry of this user's own.
	Dir, Path string
	// Live: the sandbox holds its lock (it runs), so it is not repaired.
	Live bool
	// Repaired, or Err: what the repair did.
	Repaired bool
	Err      error
}

// Check finds a store's inconsistencies and, if removeDir is not nil,
// repairs them: sandbox directories go through removeDir, run-root
// entries are removed here. It holds the names lock throughout, and each
// sandbox's lock while it looks at it, so it never takes a sandbox being
// created or started for a broken one, and never repairs a running one.
func Check(p index.Paths, removeDir func(dir string) error) ([]*Finding, error) {
	base := filepath.Join(p.Root, "sandboxes")
	ents, err := os.ReadDir(base)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []*Finding
	if err == nil {
		unlock, err := lockNames(p)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	live := map[string]bool{}
	exists := map[string]bool{}
	for _, e := range ents {
		dir := filepath.Join(base, e.Name())
		lock, free := tryLock(dir)
		exists[e.Name()] = true
		if !free {
			live[ShortID(e.Name())] = true
		}
		f := checkSandbox(p, e.Name(), dir)
		if f != nil && !free && (f.Kind == FindingRmLeftover || f.Kind == FindingNoRecord) {
			f = nil // a running --rm sandbox; a record being replaced
		}
		if f != nil {
			f.Live = !free
			out = append(out, f)
			if removeDir != nil && free {
				f.Err = removeDir(dir)
				f.Repaired = f.Err == nil
				if f.Repaired {
					delete(exists, e.Name())
				}
			}
		}
		if lock != nil {
			lock.Close()
		}
	}
	nets, _ := os.ReadDir(filepath.Join(p.RunRoot, "net"))
	for _, e := range nets {
		if live[e.Name()] {
			continue
		}
		f := &Finding{Kind: FindingStaleNetwork, ID: e.Name(), Path: filepath.Join(p.RunRoot, "net", e.Name()),
			Detail: "network state of a sandbox that is not running"}
		out = append(out, f)
		if removeDir != nil {
			f.Err = os.RemoveAll(f.Path)
			f.Repaired = f.Err == nil
		}
	}
	locks, _ := os.ReadDir(filepath.Join(p.RunRoot, "locks"))
	for _, e := range locks {
		id, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || exists[id] {
			continue
		}
		path := filepath.Join(p.RunRoot, "locks", e.Name())
		l, free := tryLockFile(path)
		if !free {
			continue // an rm of it is under way
		}
		f := &Finding{Kind: FindingStaleLock, ID: id, Path: path, Detail: "operation lock of a sandbox that is gone"}
		out = append(out, f)
		if removeDir != nil {
			f.Err = os.Remove(path)
			f.Repaired = f.Err == nil
		}
		if l != nil {
			l.Close()
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path == "" && out[j].Path != "" })
	return out, nil
}

// checkSandbox says what is wrong with the sandbox directory dir, or nil.
func checkSandbox(p index.Paths, id, dir string) *Finding {
	f := &Finding{ID: id, Dir: dir}
	if strings.HasPrefix(id, creatingPrefix) {
		f.ID = strings.TrimPrefix(id, creatingPrefix)
		f.Kind, f.Detail = FindingNoRecord, "a sandbox directory whose Create was killed"
		return f
	}
	if _, err := os.Lstat(filepath.Join(dir, autoRemoveFile)); err == nil {
		f.Kind, f.Detail = FindingRmLeftover, "an --rm sandbox that ended and was not removed"
		return f
	}
	if _, err := os.Lstat(filepath.Join(dir, configFile)); errors.Is(err, os.ErrNotExist) {
		f.Kind, f.Detail = FindingNoRecord, "a sandbox directory without a record ("+configFile+")"
		return f
	}
	sb, err := Load(p, id)
	if err != nil {
		f.Kind, f.Detail = FindingDamaged, err.Error()
		return f
	}
	if sb.Damaged() != nil {
		f.Kind, f.Detail = FindingDamaged, sb.State.Error
		return f
	}
	r := sb.Spec.Rootfs
	for _, l := range r.Lowers {
		if !filepath.IsAbs(l) {
			l = filepath.Join(r.Home, l)
		}
		if _, err := os.Stat(l); err != nil {
			f.Kind, f.Detail = FindingNoLayers, "the layers of its image ("+sb.Image+") are gone: "+err.Error()
			return f
		}
	}
	return nil
}
