package lifecycle

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"usandbox/sandbox"
)

// LogEntry is one line (or part of one) of a detached sandbox's output.
type LogEntry = sandbox.LogEntry

// LogOptions select what Logs emits.
type LogOptions struct {
	// Tail: only the last Tail lines (all if negative).
	Tail int
	// Follow: keep emitting until the sandbox stops (or ctx ends).
	Follow bool
	// Since and Until, when set, keep only the lines written from Since
	// and before Until (docker logs --since, --until).
	Since, Until time.Time
}

// Logs emits a detached sandbox's output, oldest first, from its log (the
// rotated part too), then, with Follow, what it writes until it stops.
func (e *Engine) Logs(ctx context.Context, ref string, o LogOptions, emit func(LogEntry)) error {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return err
	}
	return e.logs(ctx, sb, o, emit)
}

func (e *Engine) logs(ctx context.Context, sb *Sandbox, o LogOptions, emit func(LogEntry)) error {
	if !o.Since.IsZero() || !o.Until.IsZero() {
		all := emit
		emit = func(en LogEntry) {
			if (o.Since.IsZero() || !en.Time.Before(o.Since)) && (o.Until.IsZero() || en.Time.Before(o.Until)) {
				all(en)
			}
		}
	}
	if !sb.Logged() {
		return as(ErrInvalid, fmt.Errorf("this container is using the '%s' log driver, cannot read logs: this container is not logging output", sb.LogDriver))
	}
	path := filepath.Join(sb.Dir, sandbox.LogFile)
	var lines []string
	var size int64 // of the current log, read so far
	for _, f := range []string{sandbox.RotatedLog(path), path} {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		if f == path {
			size = int64(len(b))
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	if o.Tail >= 0 && len(lines) > o.Tail {
		lines = lines[len(lines)-o.Tail:]
	}
	for _, l := range lines {
		if en, ok := sandbox.ParseLogLine(l); ok {
			emit(en)
		}
	}
	if !o.Follow {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		if sandbox.Locked(sb.Dir) {
			return err
		}
		return nil
	}
	defer f.Close()
	// Continue where the read above ended.
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(f)
	var pending string
	for {
		chunk, err := br.ReadString('\n')
		pending += chunk
		if err == nil {
			if en, ok := sandbox.ParseLogLine(strings.TrimSuffix(pending, "\n")); ok {
				emit(en)
			}
			pending = ""
			continue
		}
		if !sandbox.Locked(sb.Dir) {
			// Stopped: emit what the monitor wrote last, then end.
			rest, _ := io.ReadAll(br)
			for _, l := range strings.Split(pending+string(rest), "\n") {
				if en, ok := sandbox.ParseLogLine(l); ok {
					emit(en)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Attach emits what a running detached sandbox writes from now on until
// it stops, and returns its exit status. A detached sandbox has no stdin
// (as with podman, run -d gives the command none): attach only reads.
func (e *Engine) Attach(ctx context.Context, ref string, emit func(LogEntry)) (int, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return 0, err
	}
	if !sb.State.Running {
		return 0, notRunning(sb)
	}
	if err := e.logs(ctx, sb, LogOptions{Tail: 0, Follow: true}, emit); err != nil {
		return 0, err
	}
	return e.Wait(ctx, sb.ID)
}
