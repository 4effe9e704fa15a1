package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"usandbox/sandbox"
)

// WaitCondition is what WaitFor waits for (docker's wait conditions).
type WaitCondition string

const (
	// WaitNotRunning: the sandbox does not run (at once if it does not).
	WaitNotRunning WaitCondition = "not-running"
	// WaitNextExit: the sandbox's next run ends (a created or stopped
	// sandbox must start first), or the sandbox is removed.
	WaitNextExit WaitCondition = "next-exit"
	// WaitRemoved: the sandbox is removed (an --rm sandbox once it ran).
	WaitRemoved WaitCondition = "removed"
)

// ParseWaitCondition reads docker's ?condition= ("" is not-running).
func ParseWaitCondition(s string) (WaitCondition, error) {
	switch c := WaitCondition(s); c {
	case "":
		return WaitNotRunning, nil
	case WaitNotRunning, WaitNextExit, WaitRemoved:
		return c, nil
	}
	return "", as(ErrInvalid, fmt.Errorf("invalid condition %q: give not-running, next-exit or removed", s))
}

// WaitFor waits until the sandbox ref meets c and returns its last exit
// status. An --rm sandbox's status is found after it is gone (package
// sandbox keeps it a while in the run root). The sandbox is looked up
// once: a sandbox created later under the same name is another one.
func (e *Engine) WaitFor(ctx context.Context, ref string, c WaitCondition) (int, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return 0, err
	}
	since := time.Now()
	t := time.NewTicker(e.poll)
	defer t.Stop()
	for {
		cur, err := sandbox.Load(e.paths, sb.ID)
		if errors.Is(err, sandbox.ErrNoSuchSandbox) {
			// Removed: its status, if an --rm run left one, else the
			// last one seen.
			if code, ok := sandbox.RemovedExit(e.paths, sb.ID); ok {
				return code, nil
			}
			return sb.State.ExitCode, nil
		}
		if err == nil {
			sb = cur
			running := sandbox.Locked(sb.Dir) && sb.State.Status != sandbox.StatusCreated
			switch c {
			case WaitNotRunning:
				if !running {
					return sb.State.ExitCode, nil
				}
			case WaitNextExit:
				if !running && sb.State.Status == sandbox.StatusExited && !sb.State.FinishedAt.Before(since) {
					return sb.State.ExitCode, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}
