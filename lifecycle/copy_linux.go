package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"usandbox/internal/archive"
	"usandbox/internal/proto"
	"usandbox/sandbox"
	"usandbox/sandbox/spec"
	"usandbox/userns"
)

// PathStat is what StatPath says of a path in a sandbox: docker's
// ContainerPathStat (the X-Docker-Container-Path-Stat header).
type PathStat = archive.Stat

// ErrNoSuchPath is matched (beside ErrNotFound) by a copy whose path is
// not in the sandbox.
var ErrNoSuchPath = sandbox.ErrNoSuchPath

// CopyOptions say how CopyTo writes into a sandbox (docker's PUT
// /containers/ID/archive).
type CopyOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the other way round.
	NoOverwriteDirNonDir bool
	// CopyUIDGID gives each file the owner the stream says, as an ID
	// inside the sandbox; without it every file belongs to the
	// sandbox's root.
	CopyUIDGID bool
}

// Every copy runs in a helper with the sandbox's view of its files
// (sandbox.StartCopy): the running sandbox's mount namespace, volumes
// included, or its overlay mounted in a mount namespace of the helper's
// own. Every path is resolved inside the sandbox's root.

// StatPath describes path in a sandbox (running or not), its last
// element not followed.
func (e *Engine) StatPath(ctx context.Context, ref, path string) (PathStat, error) {
	h, release, err := e.copyHelper(ctx, ref, proto.CopyRequest{Op: proto.CopyStat, Path: path})
	if err != nil {
		return PathStat{}, err
	}
	defer release()
	st := h.Stat
	return st, h.Wait()
}

// CopyFrom is a tar stream of path in a sandbox (a file, or a directory
// and what is below it), named as docker's GET /containers/ID/archive
// names it, with the IDs as the sandbox has them; and the path's stat.
// The stream ends with the helper's error if the copy failed midway.
func (e *Engine) CopyFrom(ctx context.Context, ref, path string) (io.ReadCloser, PathStat, error) {
	h, release, err := e.copyHelper(ctx, ref, proto.CopyRequest{Op: proto.CopyGet, Path: path})
	if err != nil {
		return nil, PathStat{}, err
	}
	return newStream(ctx, h, release), h.Stat, nil
}

// Export is a tar stream of a sandbox's whole root filesystem (what is
// mounted on it, such as /proc or volumes, not included).
func (e *Engine) Export(ctx context.Context, ref string) (io.ReadCloser, error) {
	h, release, err := e.copyHelper(ctx, ref, proto.CopyRequest{Op: proto.CopyExport})
	if err != nil {
		return nil, err
	}
	return newStream(ctx, h, release), nil
}

// CopyTo extracts the tar stream content into the directory path of a
// sandbox (running or not).
func (e *Engine) CopyTo(ctx context.Context, ref, path string, content io.Reader, o CopyOptions) error {
	h, release, err := e.copyHelper(ctx, ref, proto.CopyRequest{
		Op: proto.CopyPut, Path: path, NoOverwriteDirNonDir: o.NoOverwriteDirNonDir, CopyUIDGID: o.CopyUIDGID,
	})
	if err != nil {
		return err
	}
	defer release()
	stop := context.AfterFunc(ctx, func() { h.In.Close() })
	defer stop()
	_, cerr := io.Copy(h.In, content)
	// The helper's error first: a failed extraction breaks the pipe.
	if err := h.Wait(); err != nil {
		return e.copyError(err, ref, path)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cerr != nil {
		return as(ErrInvalid, fmt.Errorf("reading the tar stream: %w", cerr))
	}
	return nil
}

// copyHelper starts the helper for req on the sandbox ref. A stopped
// sandbox is kept from starting (its operation lock) until release.
func (e *Engine) copyHelper(ctx context.Context, ref string, req proto.CopyRequest) (*sandbox.CopyHelper, func(), error) {
	for attempt := 0; ; attempt++ {
		sb, err := e.Lookup(ctx, ref)
		if err != nil {
			return nil, nil, err
		}
		if err := sb.Damaged(); err != nil {
			return nil, nil, classify(err)
		}
		release := func() {}
		var plan *userns.Plan
		if !sb.State.Running {
			if plan, err = e.plan(); err != nil {
				return nil, nil, classify(err)
			}
			unlock, err := opLock(ctx, e.paths, sb.ID)
			if err != nil {
				return nil, nil, err
			}
			// Under the lock, again: it may have started meanwhile.
			if sb, err = e.Lookup(ctx, sb.ID); err != nil {
				unlock()
				return nil, nil, err
			}
			release = unlock
			if sb.State.Running {
				unlock()
				release = func() {}
			}
		}
		h, err := sandbox.StartCopy(sb, plan, req)
		if errors.Is(err, sandbox.ErrNotRunning) && attempt == 0 {
			release()
			continue // it stopped meanwhile: its overlay then
		}
		if err != nil {
			release()
			return nil, nil, e.copyError(err, ref, req.Path)
		}
		return h, release, nil
	}
}

// copyError gives a helper's error its kind and podman's words.
func (e *Engine) copyError(err error, ref, path string) error {
	switch {
	case errors.Is(err, sandbox.ErrNoSuchPath):
		return as(ErrNotFound, fmt.Errorf("%q could not be found on sandbox %s: %w", path, ref, err))
	case errors.Is(err, sandbox.ErrNotDir):
		return as(ErrInvalid, fmt.Errorf("%q on sandbox %s: %w", path, ref, err))
	}
	return classify(err)
}

// stream is a helper's output: its end is the helper's error, if any.
type stream struct {
	h       *sandbox.CopyHelper
	release func()
	stop    func() bool
	once    sync.Once
	err     error
}

func newStream(ctx context.Context, h *sandbox.CopyHelper, release func()) *stream {
	s := &stream{h: h, release: release}
	s.stop = context.AfterFunc(ctx, func() { h.Out.Close() })
	return s
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.h.Out.Read(p)
	if err == io.EOF {
		if werr := s.Close(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (s *stream) Close() error {
	s.once.Do(func() {
		s.stop()
		s.err = s.h.Wait()
		s.release()
	})
	return s.err
}

// HostIDs is how a sandbox sees the host's IDs (its ID map, inverted): a
// host uid or gid its map does not hold is the overflow ID, 65534, as the
// kernel shows it. cp -a uses it for files copied in from the host.
func (e *Engine) HostIDs(ctx context.Context, ref string) (func(uid, gid uint32) (int, int), error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	uidMap, gidMap := specMaps(sb.Spec.UIDMap), specMaps(sb.Spec.GIDMap)
	if len(uidMap) == 0 || len(gidMap) == 0 {
		plan, err := e.plan()
		if err != nil {
			return nil, classify(err)
		}
		if plan.Mode == userns.Root {
			return func(uid, gid uint32) (int, int) { return int(uid), int(gid) }, nil
		}
		uidMap, gidMap = plan.UIDMap, plan.GIDMap
	}
	return func(uid, gid uint32) (int, int) {
		return int(inverse(uidMap, uid)), int(inverse(gidMap, gid))
	}, nil
}

func specMaps(m []spec.IDMap) []userns.IDMap {
	var out []userns.IDMap
	for _, e := range m {
		out = append(out, userns.IDMap{ContainerID: e.ContainerID, HostID: e.HostID, Size: e.Size})
	}
	return out
}

// inverse is the ID inside of host ID id, by map m.
func inverse(m []userns.IDMap, id uint32) uint32 {
	for _, e := range m {
		if id >= e.HostID && id-e.HostID < e.Size {
			return e.ContainerID + (id - e.HostID)
		}
	}
	return 65534
}
