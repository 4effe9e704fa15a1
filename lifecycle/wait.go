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
	pace := newPacer(5 * e.poll)
	seen := ""
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
			if sb.State.Status != seen {
				seen = sb.State.Status
				pace.reset()
			}
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
		if err := pace.wait(ctx); err != nil {
			return 0, err
		}
	}
}

// pacer paces a wait's looks: at once after a start or a change, then
// less and less often, up to max. A wait that ends soon (docker run's
// attach and wait of a short command) ends within a millisecond or two;
// a long one costs a look every max.
type pacer struct{ d, max time.Duration }

func newPacer(max time.Duration) *pacer { return &pacer{d: time.Millisecond, max: max} }

// wait sleeps the next interval, or until ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	t := time.NewTimer(p.d)
	defer t.Stop()
	if p.d = p.d * 3 / 2; p.d > p.max {
		p.d = p.max
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reset: something changed, look again soon.
func (p *pacer) reset() { p.d = time.Millisecond }
