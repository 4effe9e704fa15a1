// Package events is usandbox's journal of what happened to sandboxes and
// images (created, started, died, removed, pulled...), which the Engine
// API's /events and docker events read. Like podman's file events
// backend, it is one file in the run root (a tmpfs: gone at reboot),
// appended by whichever usandbox process did the thing: the CLI, the
// service, a sandbox's monitor. Each event is one line of JSON, written
// with one write(2) on an O_APPEND file, so that writers never interleave
// (a line is far below PIPE_BUF; regular files append atomically).
package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// Event is one thing that happened.
type Event struct {
	// Time is when, in nanoseconds since the epoch.
	Time int64 `json:"time"`
	// Type is container, image, network or volume.
	Type string `json:"type"`
	// Action is docker's: create, start, die, kill, stop, destroy,
	// rename, pause, unpause (containers); pull, delete, tag, untag
	// (images); create, destroy, connect, disconnect (networks, volumes).
	Action string `json:"action"`
	// ID is the sandbox's or image's ID, or the network's or volume's
	// name.
	ID string `json:"id"`
	// Attributes: name, image, exitCode, signal... as docker's.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// maxSize is the size past which the journal moves to events.log.1
// (replacing an older one) and a new one starts.
const maxSize = 1 << 20

// Path is the journal of the store whose run root is runRoot.
func Path(runRoot string) string { return filepath.Join(runRoot, "events", "events.log") }

// Write appends ev (its Time set now if zero) to the journal. A journal
// that cannot be written loses the event, never the operation: callers
// ignore the error, or report it as a warning.
func Write(runRoot string, ev Event) error {
	if ev.Time == 0 {
		ev.Time = time.Now().UnixNano()
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	path := Path(runRoot)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxSize {
		// Whoever renames first starts the new journal; a writer that
		// opened the old one still appends there, and its line is kept.
		os.Rename(path, path+".1")
	}
	_, err = f.Write(line)
	return err
}

// ReadOptions select what Read emits.
type ReadOptions struct {
	// Since and Until bound the events' times (zero: no bound).
	Since, Until time.Time
	// Follow: after the past events, emit new ones as they come, until
	// Until passes or ctx ends.
	Follow bool
	// Poll is how often a follow looks for new events.
	Poll time.Duration
}

// Read emits the journal's events, oldest first (the rotated part too).
func Read(ctx context.Context, runRoot string, o ReadOptions, emit func(Event)) error {
	path := Path(runRoot)
	inRange := func(ev Event) bool {
		t := time.Unix(0, ev.Time)
		return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
	}
	var last int64 // the time of the last event emitted from the old part
	if b, err := os.ReadFile(path + ".1"); err == nil {
		for _, ev := range parse(b) {
			if inRange(ev) {
				emit(ev)
			}
			last = ev.Time
		}
	}
	f, err := os.Open(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	poll := o.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	var br *bufio.Reader
	if f != nil {
		br = bufio.NewReader(f)
	}
	var pending []byte
	drain := func() {
		for br != nil {
			chunk, err := br.ReadBytes('\n')
			pending = append(pending, chunk...)
			if err != nil {
				return
			}
			var ev Event
			if json.Unmarshal(pending, &ev) == nil && ev.Time > last && inRange(ev) {
				emit(ev)
			}
			pending = pending[:0]
		}
	}
	for {
		drain()
		if o.Follow && (f == nil || rotated(f, path)) {
			// A new journal (the first, or after a rotation): the old
			// one was read to its end above; read the new one from its
			// start.
			if nf, err := os.Open(path); err == nil {
				if f != nil {
					f.Close()
				}
				f, br, pending = nf, bufio.NewReader(nf), nil
				continue
			}
		}
		if !o.Follow || (!o.Until.IsZero() && time.Now().After(o.Until)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// rotated reports whether path is no longer the file f.
func rotated(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && !os.SameFile(a, b)
}

func parse(b []byte) []Event {
	var out []Event
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			return out // the end, or a line cut short by a crash
		}
		out = append(out, ev)
	}
}
