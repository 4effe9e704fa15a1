package lifecycle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"usandbox/sandbox"
)

// OutputOptions select what AttachOutput emits.
type OutputOptions struct {
	// Logs: what the sandbox wrote before, first.
	Logs bool
	// Stream: what it writes from now on, until its current run ends
	// (a sandbox not running: its next run, once started).
	Stream bool
	// Attached, when set, is called once the log is open: a start from
	// then on is seen whole, even of an --rm sandbox that is gone before
	// the caller looks (docker run attaches, then starts).
	Attached func()
}

// AttachOutput emits a detached sandbox's output, as the Engine API's
// attach does: from its log, which the monitor writes (a sandbox started
// by the CLI or the API alike). The log is opened before anything is
// waited for, and read to its end once the run is over: nothing the
// command wrote is lost, even when an --rm sandbox's directory goes.
func (e *Engine) AttachOutput(ctx context.Context, ref string, o OutputOptions, emit func(LogEntry)) error {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return err
	}
	if !sb.Logged() {
		return as(ErrInvalid, fmt.Errorf("sandbox %s uses the none log driver: it keeps no output to attach to", sandbox.ShortID(sb.ID)))
	}
	since := time.Now()
	// The monitor appends to this same file (NewLogWriter), so a log
	// made here is the one the next run writes.
	f, err := os.OpenFile(filepath.Join(sb.Dir, sandbox.LogFile), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return classify(fmt.Errorf("%w: %s", sandbox.ErrNoSuchSandbox, ref))
		}
		return err
	}
	defer f.Close()
	wasRunning := sandbox.Locked(sb.Dir) && sb.State.Status != sandbox.StatusCreated
	if !o.Logs {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return err
		}
	}
	r := &logReader{br: bufio.NewReader(f), emit: emit}
	if o.Logs {
		r.drain()
	}
	if o.Attached != nil {
		o.Attached()
	}
	if !o.Stream {
		return nil
	}
	pace := newPacer(5 * e.poll)
	for {
		if r.drain() {
			pace.reset()
		}
		if e.runOver(sb.ID, since, wasRunning) {
			r.drain()
			r.flush()
			return nil
		}
		if err := pace.wait(ctx); err != nil {
			return err
		}
	}
}

// runOver reports whether the run an attach waits for has ended: the
// sandbox is gone, or it stopped after running (at attach, or since).
func (e *Engine) runOver(id string, since time.Time, wasRunning bool) bool {
	sb, err := sandbox.Load(e.paths, id)
	if err != nil {
		return true
	}
	if sandbox.Locked(sb.Dir) {
		return false
	}
	return wasRunning || (sb.State.Status == sandbox.StatusExited && !sb.State.FinishedAt.Before(since))
}

// logReader emits the whole lines of a log as they come.
type logReader struct {
	br      *bufio.Reader
	pending string
	emit    func(LogEntry)
}

// drain emits every whole line there is now: whether there was any.
func (r *logReader) drain() (any bool) {
	for {
		chunk, err := r.br.ReadString('\n')
		r.pending += chunk
		any = any || chunk != ""
		if err != nil {
			return any
		}
		if en, ok := sandbox.ParseLogLine(strings.TrimSuffix(r.pending, "\n")); ok {
			r.emit(en)
		}
		r.pending = ""
	}
}

// flush emits a last line the writer did not end.
func (r *logReader) flush() {
	if en, ok := sandbox.ParseLogLine(r.pending); ok && r.pending != "" {
		r.emit(en)
	}
	r.pending = ""
}

// AttachInput writes what in gives to the stdin of the sandbox ref (made
// with OpenStdin), from its current or next run, until in ends or that
// run is over. With StdinOnce, in's end is the command's end of file.
func (e *Engine) AttachInput(ctx context.Context, ref string, in io.Reader) error {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return err
	}
	if !sb.OpenStdin {
		return as(ErrInvalid, fmt.Errorf("sandbox %s was made without an open stdin", sandbox.ShortID(sb.ID)))
	}
	since := time.Now()
	wasRunning := sandbox.Locked(sb.Dir) && sb.State.Status != sandbox.StatusCreated
	t := time.NewTicker(e.poll)
	defer t.Stop()
	for {
		f, err := sandbox.OpenStdin(sb.Dir)
		if err == nil {
			defer f.Close()
			_, err = io.Copy(f, in)
			if errors.Is(err, syscall.EPIPE) {
				return nil // the command closed its stdin, or ended
			}
			return err
		}
		if !errors.Is(err, sandbox.ErrNotStarted) {
			return err
		}
		if e.runOver(sb.ID, since, wasRunning) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Resize gives the terminal of the running sandbox ref rows and cols.
func (e *Engine) Resize(ctx context.Context, ref string, rows, cols uint16) error {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return err
	}
	switch err := sandbox.Resize(sb.Dir, rows, cols); {
	case errors.Is(err, sandbox.ErrNoTerminal):
		return as(ErrInvalid, fmt.Errorf("sandbox %s has no terminal to resize", sandbox.ShortID(sb.ID)))
	case errors.Is(err, sandbox.ErrNotStarted):
		return notRunning(sb)
	default:
		return err
	}
}
