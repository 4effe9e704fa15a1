package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"usandbox/internal/archive"
	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/wire"
	"usandbox/nsexec"
	"usandbox/sandbox/spec"
	"usandbox/userns"
)

// ErrNoSuchPath: the path is not in the sandbox (archive.ErrNotFound).
var ErrNoSuchPath = archive.ErrNotFound

// ErrNotDir: an extraction point that is not a directory.
var ErrNotDir = archive.ErrNotDir

// CopyHelper is a running copy helper (role copy; internal/proto's copy
// protocol): a copy of this binary with the sandbox's view of its files,
// joined to a running sandbox's user and mount namespaces through its
// keeper, or, for a stopped sandbox, in a new user namespace with the
// sandbox's ID map and a mount namespace of its own where it mounts the
// sandbox's overlay. The helper dies with the caller (parent-death
// signal), and its mounts with it.
type CopyHelper struct {
	// Stat is the path's, as the helper saw it before the stream.
	Stat archive.Stat
	// Out is the stream the helper writes (get, export); In the one it
	// reads (put). The other is nil.
	Out io.ReadCloser
	In  io.WriteCloser

	done chan error
}

// StartCopy starts a helper for req. When the sandbox is not running, the
// caller must keep it from starting until Wait returns (its operation
// lock): its overlay is mounted by the helper.
func StartCopy(sb *Sandbox, plan *userns.Plan, req proto.CopyRequest) (*CopyHelper, error) {
	req.Kind = proto.KindCopyRequest
	cfg := nsexec.Config{Role: role.Copy, Args: []string{"usandbox-cp", ShortID(sb.ID)}, Stderr: os.Stderr}
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	if sb.State.Running {
		join, pidns, err := keeperNamespaces(sb)
		if err != nil {
			return nil, err
		}
		pidns.Close() // not entered: the helper is no process of the sandbox
		closers = append(closers, join)
		cfg.Join = join
		cfg.Flags = unix.CLONE_NEWNS
		if sb.Spec.UserNS {
			cfg.Flags |= unix.CLONE_NEWUSER
		}
	} else {
		if sb.Spec.OCI != nil {
			return nil, fmt.Errorf("%w: %s is an OCI container: its files are the bundle's rootfs", ErrInvalid, ShortID(sb.ID))
		}
		s := spec.Spec{Rootfs: sb.Spec.Rootfs, StateDir: sb.Spec.StateDir, ReadOnly: sb.Spec.ReadOnly}
		req.Mount = &s
		cfg.Flags = unix.CLONE_NEWNS
		if plan.Mode != userns.Root {
			p, err := planFor(plan, &sb.Spec)
			if err != nil {
				return nil, err
			}
			cfg.Flags |= unix.CLONE_NEWUSER
			cfg.MapIDs = p.Apply
		}
	}
	h := &CopyHelper{done: make(chan error, 1)}
	var theirs *os.File
	switch req.Op {
	case proto.CopyGet, proto.CopyExport:
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		cfg.Stdout, theirs, h.Out = w, w, r
	case proto.CopyPut:
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		cfg.Stdin, theirs, h.In = r, r, w
	}
	first := make(chan error, 1)
	// One goroutine starts the helper and waits for it: nsexec locks
	// the starting goroutine to its thread until Wait.
	go func() {
		child, err := nsexec.Start(cfg)
		closeAll()
		if theirs != nil {
			theirs.Close()
		}
		if err != nil {
			first <- fmt.Errorf("starting the copy helper for %s: %w", ShortID(sb.ID), err)
			return
		}
		reply, err := h.exchange(child.Conn, &req)
		if err == nil && reply.Stat != nil {
			h.Stat = *reply.Stat
		}
		first <- err
		if err != nil {
			child.Signal(unix.SIGKILL)
			child.Wait()
			return
		}
		if req.Op == proto.CopyStat {
			child.Wait()
			h.done <- nil
			return
		}
		var last proto.CopyReply
		_, rerr := wire.Recv(child.Conn, &last)
		st, werr := child.Wait()
		switch {
		case rerr == nil && last.Err != "":
			h.done <- replyError(last)
		case rerr != nil:
			h.done <- fmt.Errorf("the copy helper ended early (%v)", st)
		default:
			h.done <- werr
		}
	}()
	if err := <-first; err != nil {
		if h.Out != nil {
			h.Out.Close()
		}
		if h.In != nil {
			h.In.Close()
		}
		return nil, err
	}
	return h, nil
}

// exchange sends the request and reads the first reply.
func (h *CopyHelper) exchange(conn *os.File, req *proto.CopyRequest) (proto.CopyReply, error) {
	var m proto.CopyReply
	if err := wire.Send(conn, req); err != nil {
		return m, err
	}
	if _, err := wire.Recv(conn, &m); err != nil {
		return m, errors.New("the copy helper ended before it answered")
	}
	if m.Err != "" {
		return m, replyError(m)
	}
	return m, nil
}

func replyError(m proto.CopyReply) error {
	switch {
	case m.NotFound:
		return fmt.Errorf("%w", archive.ErrNotFound)
	case m.NotDir:
		return fmt.Errorf("%w", archive.ErrNotDir)
	}
	return errors.New(strings.TrimPrefix(m.Err, "usandbox: "))
}

// Wait closes the caller's end of the stream and waits for the helper:
// its error is the operation's. A stream not read to its end ends the
// helper (a broken pipe), with an error.
func (h *CopyHelper) Wait() error {
	if h.In != nil {
		h.In.Close()
	}
	if h.Out != nil {
		h.Out.Close()
	}
	err := <-h.done
	h.done <- err // Wait again returns the same
	return err
}
