package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"syscall"
	"time"

	"usandbox/sandbox"
	"usandbox/storage/index"
	"usandbox/userns"
)

// Sandbox is a sandbox's record and state, as package sandbox reads them.
type Sandbox = sandbox.Sandbox

// Signal is a signal number (syscall.Signal), so that front ends need not
// import package syscall.
type Signal = syscall.Signal

// Signals the stop policy uses.
const (
	SIGTERM = syscall.SIGTERM
	SIGKILL = syscall.SIGKILL
)

// Host is what the Engine asks of the kernel: starting and signalling a
// sandbox's processes and deleting its files in the user namespace. The
// real one is osHost; the unit tests use a fake that runs no process.
type Host interface {
	// Run starts sb in the foreground and waits for it: the command's
	// exit status, or an *sandbox.ExitError.
	Run(p index.Paths, sb *Sandbox, s Streams) (int, error)
	// Start starts sb under a new monitor and returns once its command
	// runs (or why it cannot).
	Start(p index.Paths, sb *Sandbox) error
	// Exec runs a command in the running sandbox sb and waits for it.
	Exec(p index.Paths, sb *Sandbox, o ExecOptions) (int, error)
	// Signal sends sig to the running sandbox's init, which passes it
	// on to the command (SIGKILL ends the init and so the sandbox).
	Signal(sb *Sandbox, sig Signal) error
	// KillAll kills every process of sb at once, if it has a cgroup.
	KillAll(sb *Sandbox)
	// RemoveDir deletes the directory of a sandbox that nothing runs,
	// inside the user namespace that owns its upper layer's files.
	RemoveDir(dir string) error
}

// Engine does the lifecycle operations on one store. Its methods are safe
// to call from several processes at once (they lock); an Engine holds no
// state of its own beyond the store's paths.
type Engine struct {
	paths index.Paths
	host  Host
	// poll is how often waits look at a sandbox's lock.
	poll time.Duration
	// plan is the user namespace plan of this user, worked out once.
	plan func() (*userns.Plan, error)
	// Warn, when set, receives what the caller should tell the user
	// while an operation still succeeds (stop had to use SIGKILL).
	Warn func(string)
	// ImageTool is the path of usandbox-image, which the image
	// operations (ImagePull, ImageRemove, ImageTag, ImagePrune) run.
	ImageTool string
}

// New is an Engine for the store at p, on this host.
func New(p index.Paths) *Engine {
	plan := sync.OnceValues(userns.Detect)
	return newEngine(p, &osHost{plan: plan}, plan)
}

// NewWithHost is an Engine whose kernel side is h (tests).
func NewWithHost(p index.Paths, h Host) *Engine {
	return newEngine(p, h, sync.OnceValues(userns.Detect))
}

func newEngine(p index.Paths, h Host, plan func() (*userns.Plan, error)) *Engine {
	return &Engine{paths: p, host: h, poll: 10 * time.Millisecond, plan: plan}
}

// Paths are the Engine's store.
func (e *Engine) Paths() index.Paths { return e.paths }

// Lookup finds a sandbox by full ID, unique ID prefix, or name.
func (e *Engine) Lookup(ctx context.Context, ref string) (*Sandbox, error) {
	sb, err := sandbox.Lookup(e.paths, ref)
	return sb, classify(err)
}

// Inspect is Lookup: the sandbox's record and state, now.
func (e *Engine) Inspect(ctx context.Context, ref string) (*Sandbox, error) {
	return e.Lookup(ctx, ref)
}

// ListOptions select what List returns.
type ListOptions struct {
	// All: stopped sandboxes too, not only running ones.
	All bool
	// Filters: only the sandboxes that match (ParseFilters); a status
	// filter implies All.
	Filters Filters
}

// List returns the sandboxes, newest first, after reclaiming what killed
// usandbox processes left (best effort: a store this user may not write
// is listed all the same).
func (e *Engine) List(ctx context.Context, o ListOptions) ([]*Sandbox, error) {
	sandbox.Reclaim(e.paths)
	all, err := sandbox.List(e.paths)
	if err != nil {
		return nil, err
	}
	var out []*Sandbox
	for _, sb := range all {
		if (o.All || o.Filters.WantAll() || sb.State.Running) && o.Filters.Match(sb) {
			out = append(out, sb)
		}
	}
	return out, nil
}

// locked looks a sandbox up and takes its operation lock; the sandbox is
// looked up again under the lock, so that its state is current.
func (e *Engine) locked(ctx context.Context, ref string) (*Sandbox, func(), error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := opLock(ctx, e.paths, sb.ID)
	if err != nil {
		return nil, nil, err
	}
	fresh, err := sandbox.Load(e.paths, sb.ID)
	if err != nil {
		unlock()
		return nil, nil, classify(err) // removed while we waited
	}
	return fresh, unlock, nil
}

// Start starts a stopped sandbox again, detached (its upper layer kept).
func (e *Engine) Start(ctx context.Context, ref string) (*Sandbox, error) {
	sb, unlock, err := e.locked(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if sandbox.Locked(sb.Dir) {
		return nil, as(ErrAlreadyRunning, fmt.Errorf("%w: %s", sandbox.ErrRunning, ref))
	}
	if err := sb.Damaged(); err != nil {
		return nil, classify(err)
	}
	if err := sandbox.ResetRestarts(sb.Dir); err != nil {
		return nil, err
	}
	return sb, e.start(sb)
}

func (e *Engine) start(sb *Sandbox) error {
	if err := sandbox.ResetHealth(sb.Dir); err != nil {
		return err
	}
	if err := e.host.Start(e.paths, sb); err != nil {
		return classify(err)
	}
	return nil
}

// StartCreated starts a sandbox that Create just returned, detached, and
// returns once its command runs.
func (e *Engine) StartCreated(ctx context.Context, sb *Sandbox) error {
	err := e.start(sb)
	if err != nil {
		// A new sandbox that failed is gone: its volumes go too.
		e.warnIf(e.afterRun(sb, false))
	}
	return err
}

// Streams connect a foreground sandbox (or an exec'd command) to the
// caller: its terminal or pipes. Stdin is used only when Interactive.
type Streams = sandbox.Streams

// WindowSize is a terminal's size (ExecOptions.Resize).
type WindowSize = sandbox.WindowSize

// Run starts a sandbox that Create just returned (or a stopped one) in
// the foreground, relays its terminal and signals, and returns the
// command's exit status. A failure of usandbox itself is an
// *sandbox.ExitError with Code 125; a new sandbox that never ran leaves
// nothing behind.
//
// The restart policy applies once the command ended: the sandbox starts
// again detached, and Run returns the first run's status (podman's).
func (e *Engine) Run(ctx context.Context, sb *Sandbox, s Streams) (int, error) {
	if err := sandbox.ResetHealth(sb.Dir); err != nil {
		return 0, err
	}
	if sb.Healthcheck != nil {
		defer e.WatchHealth(sb.ID)()
	}
	code, err := e.host.Run(e.paths, sb, s)
	if sb.AutoRemove || err != nil {
		var ee *sandbox.ExitError
		ran := err == nil || errors.As(err, &ee) && ee.Code == 137 // killed for memory: it ran
		e.warnIf(e.afterRun(sb, ran))
	}
	if err == nil {
		err = e.AfterExit(ctx, sb.ID, nil)
	}
	return code, classify(err)
}

// warnIf passes a failure that does not fail the operation to Warn.
func (e *Engine) warnIf(err error) {
	if err != nil && e.Warn != nil {
		e.Warn(err.Error())
	}
}

// Wait waits for the sandbox to stop and returns its exit status (0 for
// an --rm sandbox, which is gone once it stops).
func (e *Engine) Wait(ctx context.Context, ref string) (int, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return 0, err
	}
	if err := e.waitStopped(ctx, sb, -1); err != nil {
		return 0, err
	}
	sb, err = sandbox.Load(e.paths, sb.ID)
	if err != nil {
		return 0, nil
	}
	return sb.State.ExitCode, nil
}

// waitStopped waits up to d (forever if d < 0) for every process of the
// sandbox to end: false if it did not.
func (e *Engine) waitStopped(ctx context.Context, sb *Sandbox, d time.Duration) error {
	deadline := time.Now().Add(d)
	t := time.NewTicker(e.poll)
	defer t.Stop()
	for sandbox.Locked(sb.Dir) {
		if d >= 0 && time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

var errTimeout = errors.New("timed out")

// Stop stops a running sandbox: its stop signal (SIGTERM unless
// --stop-signal or the image said otherwise), then, after grace (at once
// if grace is 0; the sandbox's --stop-timeout or 10 s if it is
// StopTimeoutGrace), every process killed.
func (e *Engine) Stop(ctx context.Context, ref string, grace time.Duration) error {
	sb, unlock, err := e.locked(ctx, ref)
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.stop(ctx, sb, stopGrace(sb, grace, 10*time.Second)); err != nil {
		return err
	}
	sandbox.Event(e.paths, sb, "stop", nil)
	return nil
}

func (e *Engine) stop(ctx context.Context, sb *Sandbox, grace time.Duration) error {
	// Also for a sandbox that waits to be restarted: stop ends that.
	if err := e.markStopped(sb); err != nil {
		return err
	}
	if grace > 0 {
		if err := thaw(sb); err != nil {
			return err
		}
		sig := stopSignal(sb)
		if err := e.signal(sb, sig); err != nil {
			return err
		}
		err := e.waitStopped(ctx, sb, grace)
		if err == nil || !errors.Is(err, errTimeout) {
			return err
		}
		if e.Warn != nil {
			// podman's words, so that what greps its logs finds ours.
			name := sb.Name
			if name == "" {
				name = sandbox.ShortID(sb.ID)
			}
			e.Warn(fmt.Sprintf("StopSignal %s failed to stop sandbox %s in %d seconds, resorting to SIGKILL", SignalName(sig), name, int(grace.Seconds())))
		}
	} else if !sb.State.Running {
		return notRunning(sb)
	}
	e.host.KillAll(sb)
	if err := e.signal(sb, SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return e.waitKilled(ctx, sb)
}

// waitKilled waits for a killed sandbox's processes to be gone: its
// watcher and keeper release the lock once they have cleaned up.
func (e *Engine) waitKilled(ctx context.Context, sb *Sandbox) error {
	if err := e.waitStopped(ctx, sb, 10*time.Second); err != nil {
		return fmt.Errorf("sandbox %s was killed but its watcher still holds it after 10 s: %w", sandbox.ShortID(sb.ID), err)
	}
	return nil
}

// markStopped records a stop by the user, for a sandbox with a restart
// policy (the others have no use for it).
func (e *Engine) markStopped(sb *Sandbox) error {
	if sb.RestartPolicy == "" || sb.RestartPolicy == RestartNo {
		return nil
	}
	return sandbox.MarkStoppedByUser(sb.Dir)
}

func notRunning(sb *Sandbox) error {
	return classify(fmt.Errorf("%w: %s", sandbox.ErrNotRunning, sandbox.ShortID(sb.ID)))
}

// signal sends sig to a running sandbox's init.
func (e *Engine) signal(sb *Sandbox, sig Signal) error {
	if !sb.State.Running || sb.State.Pid <= 0 {
		return notRunning(sb)
	}
	return classify(e.host.Signal(sb, sig))
}

// Kill sends sig to the sandbox's command (through its init). SIGKILL
// kills every process of the sandbox at once and waits for them to end.
//
// Kill does not wait for the operation lock: it must reach a sandbox that
// a Stop is waiting on.
func (e *Engine) Kill(ctx context.Context, ref string, sig Signal) error {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return err
	}
	// docker's rule: SIGKILL and the stop signal end the restart policy
	// until the next start; other signals (SIGHUP, SIGUSR1) leave it.
	if sig == SIGKILL || sig == stopSignal(sb) {
		if err := e.markStopped(sb); err != nil {
			return err
		}
	}
	if sig == SIGKILL && sb.State.Running {
		e.host.KillAll(sb)
	}
	if err := e.signal(sb, sig); err != nil && !(sig == SIGKILL && errors.Is(err, ErrNotRunning) && sb.State.Running) {
		return err
	}
	sandbox.Event(e.paths, sb, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	if sig == SIGKILL {
		return e.waitKilled(ctx, sb)
	}
	return nil
}

// RemoveOptions say how Remove treats a running sandbox.
type RemoveOptions struct {
	// Force: stop a running sandbox first.
	Force bool
	// Grace: with Force, how long the stop signal is given before every
	// process is killed (0: killed at once; StopTimeoutGrace: the
	// sandbox's --stop-timeout, else at once).
	Grace time.Duration
	// Volumes: remove the sandbox's anonymous volumes too (rm -v), unless
	// another sandbox borrowed them.
	Volumes bool
}

// Remove deletes a stopped sandbox: its record, upper layer and state.
func (e *Engine) Remove(ctx context.Context, ref string, o RemoveOptions) error {
	sb, unlock, err := e.locked(ctx, ref)
	if err != nil {
		return err
	}
	defer unlock()
	if sandbox.Locked(sb.Dir) {
		if !o.Force {
			return classify(fmt.Errorf("%w: %s: stop it first, or use rm -f", sandbox.ErrRunning, ref))
		}
		if err := e.stop(ctx, sb, stopGrace(sb, o.Grace, 0)); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
		// A command that had just ended leaves its sandbox held while
		// its watcher finishes (records the exit, applies the restart
		// policy): stop has nothing to signal then, so wait for that.
		if err := e.waitKilled(ctx, sb); err != nil {
			return err
		}
	}
	if err := e.remove(sb); err != nil {
		return err
	}
	if o.Volumes {
		return e.dropVolumes(sb.OwnVolumes(false))
	}
	return nil
}

// remove deletes sb, which must be stopped; the caller holds its
// operation lock.
func (e *Engine) remove(sb *Sandbox) error {
	if sandbox.Locked(sb.Dir) {
		return classify(fmt.Errorf("%w: %s", sandbox.ErrRunning, sandbox.ShortID(sb.ID)))
	}
	if err := e.host.RemoveDir(sb.Dir); err != nil {
		return err
	}
	removeOpLock(e.paths, sb.ID)
	sandbox.Event(e.paths, sb, "destroy", nil)
	return nil
}

// forceRemove stops sb if it runs and removes it, under its operation
// lock.
func (e *Engine) forceRemove(ctx context.Context, sb *Sandbox) error {
	return e.Remove(ctx, sb.ID, RemoveOptions{Force: true})
}

// Prune removes every stopped sandbox and returns their IDs.
func (e *Engine) Prune(ctx context.Context) ([]string, error) {
	all, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, sb := range all {
		if sb.State.Running {
			continue
		}
		err := e.Remove(ctx, sb.ID, RemoveOptions{})
		switch {
		case err == nil:
			removed = append(removed, sb.ID)
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			// Started or removed by someone else meanwhile.
		default:
			return removed, err
		}
	}
	return removed, nil
}

// RemoveUsersOf stops and removes every sandbox made from the image with
// ID imageID (rmi -f), so that no sandbox is left whose layers are gone.
func (e *Engine) RemoveUsersOf(ctx context.Context, imageID string) error {
	all, err := sandbox.List(e.paths)
	if err != nil {
		return err
	}
	for _, sb := range all {
		if sb.ImageID != imageID {
			continue
		}
		if err := e.forceRemove(ctx, sb); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// Reset removes every sandbox (killing the running ones), then what has
// no record (a Create killed midway) and the run root's leftovers.
func (e *Engine) Reset(ctx context.Context) error {
	all, err := sandbox.List(e.paths)
	if err != nil {
		return err
	}
	for _, sb := range all {
		if err := e.forceRemove(ctx, sb); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	found, err := sandbox.Check(e.paths, e.host.RemoveDir)
	if err != nil {
		return err
	}
	for _, f := range found {
		if f.Err != nil {
			return f.Err
		}
	}
	return nil
}

// Finding is one inconsistency that Check found.
type Finding = sandbox.Finding

// Check finds inconsistencies of the store (sandboxes without layers or
// record, --rm leftovers, stale run-root state) and, with repair, removes
// what is broken (never a running sandbox).
func (e *Engine) Check(ctx context.Context, repair bool) ([]*Finding, error) {
	var remove func(string) error
	if repair {
		remove = e.host.RemoveDir
	}
	return sandbox.Check(e.paths, remove)
}

// ExecOptions is a command to run in a running sandbox.
type ExecOptions struct {
	Args    []string
	Env     []string // KEY=VALUE (ParseEnv)
	User    string   // "" keeps the sandbox's
	Workdir string   // "" keeps the sandbox's
	TTY     bool
	// Streams: NoSigProxy keeps this process's signals from the command
	// (an API service's).
	Streams
	// Resize: see sandbox.ExecOptions (the API's exec resize).
	Resize <-chan WindowSize
	// Started: see sandbox.ExecOptions (the API's exec inspect).
	Started func(pid int)
	// Output and Timeout: see sandbox.ExecOptions (a health check).
	Output  io.Writer
	Timeout time.Duration
}

// Exec runs a command in a running sandbox, with the sandbox's hardening,
// and returns its exit status.
func (e *Engine) Exec(ctx context.Context, ref string, o ExecOptions) (int, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return 0, err
	}
	if err := sb.Damaged(); err != nil {
		return 0, classify(err)
	}
	if sb.State.Paused {
		// Its processes are frozen: the command would hang.
		return 0, as(ErrConflict, fmt.Errorf("sandbox %s is paused: unpause it first", ref))
	}
	code, err := e.host.Exec(e.paths, sb, o)
	return code, classify(err)
}
