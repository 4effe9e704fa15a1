package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"usandbox/sandbox"
)

// StartAttached starts a created or stopped sandbox in the foreground,
// as Run does, and returns the command's exit status (start -a). A
// running sandbox is attached to (Attach) and the status is 0, as
// podman's.
func (e *Engine) StartAttached(ctx context.Context, ref string, s Streams) (int, error) {
	sb, unlock, err := e.locked(ctx, ref)
	if err != nil {
		return 0, err
	}
	running, damaged := sandbox.Locked(sb.Dir), sb.Damaged()
	// The foreground run holds the sandbox's own lock; the operation lock
	// is let go so that stop and kill can reach it.
	unlock()
	if running {
		// podman attaches to a running sandbox instead, and exits 0
		// once it ends, as attach does.
		_, err := e.Attach(ctx, sb.ID, func(l LogEntry) {
			w := s.Stdout
			if l.Stream == "stderr" {
				w = s.Stderr
			}
			if l.Partial {
				fmt.Fprint(w, l.Text)
			} else {
				fmt.Fprintln(w, l.Text)
			}
		})
		return 0, err
	}
	if damaged != nil {
		return 0, classify(damaged)
	}
	if err := sandbox.ResetRestarts(sb.Dir); err != nil {
		return 0, err
	}
	return e.Run(ctx, sb, s)
}

// Restart stops a running sandbox as Stop does (SIGTERM, every process
// killed after grace) and starts it again, detached; a stopped sandbox
// is only started.
func (e *Engine) Restart(ctx context.Context, ref string, grace time.Duration) (*Sandbox, error) {
	sb, unlock, err := e.locked(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if sandbox.Locked(sb.Dir) {
		if err := e.stop(ctx, sb, stopGrace(sb, grace, 10*time.Second)); err != nil && !errors.Is(err, ErrNotRunning) {
			return nil, err
		}
		if sb, err = sandbox.Load(e.paths, sb.ID); err != nil {
			return nil, classify(err)
		}
	}
	if err := sb.Damaged(); err != nil {
		return nil, classify(err)
	}
	if err := sandbox.ResetRestarts(sb.Dir); err != nil {
		return nil, err
	}
	return sb, e.start(sb)
}

// Filters select sandboxes as podman's ps --filter does: a sandbox must
// match every key, and one of the values given for a key.
type Filters struct {
	keys map[string][]func(*Sandbox) bool
}

// statuses are the values of the status filter, podman's.
var statuses = []string{"created", "running", "paused", "stopped", "exited", "unknown"}

// ParseFilters parses KEY=VALUE filters: id (a prefix of the ID), name (a
// regular expression), status, ancestor (an image name or ID prefix),
// exited (an exit status), label (KEY, or KEY=VALUE: LabelMatcher) and
// network (a network's name, or the mode: host, none, slirp4netns).
func ParseFilters(fs []string) (Filters, error) {
	f := Filters{keys: map[string][]func(*Sandbox) bool{}}
	for _, s := range fs {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return f, as(ErrInvalid, fmt.Errorf("invalid filter %q: want KEY=VALUE", s))
		}
		var m func(*Sandbox) bool
		switch key {
		case "id":
			m = func(sb *Sandbox) bool { return strings.HasPrefix(sb.ID, value) }
		case "name":
			re, err := regexp.Compile(value)
			if err != nil {
				return f, as(ErrInvalid, fmt.Errorf("invalid name filter %q: %w", value, err))
			}
			m = func(sb *Sandbox) bool { return re.MatchString(sb.Name) }
		case "status":
			if !contains(statuses, value) {
				return f, as(ErrInvalid, fmt.Errorf("invalid status filter %q: one of %s", value, strings.Join(statuses, ", ")))
			}
			m = func(sb *Sandbox) bool {
				st := sb.State.Status
				return st == value || value == "stopped" && st == sandbox.StatusExited
			}
		case "ancestor":
			m = func(sb *Sandbox) bool { return ancestorMatch(sb, value) }
		case "exited":
			code, err := strconv.Atoi(value)
			if err != nil {
				return f, as(ErrInvalid, fmt.Errorf("invalid exited filter %q: want an exit status", value))
			}
			m = func(sb *Sandbox) bool { return sb.State.Status == sandbox.StatusExited && sb.State.ExitCode == code }
		case "label":
			m = LabelMatcher(value)
		case "network":
			// A named network, or the mode (host, none, slirp4netns).
			m = func(sb *Sandbox) bool {
				for _, a := range sb.Network.Networks {
					if a.Name == value {
						return true
					}
				}
				return len(sb.Network.Networks) == 0 && sb.Network.Mode == value
			}
		default:
			return f, as(ErrInvalid, fmt.Errorf("invalid filter %q: usandbox knows id, name, label, status, ancestor, exited and network", key))
		}
		if key == "label" {
			// podman ANDs label filters: each is a key of its own.
			key = s
		}
		f.keys[key] = append(f.keys[key], m)
	}
	return f, nil
}

// WantAll reports whether the filters look at stopped sandboxes without
// ListOptions.All: a status filter does, as podman's.
func (f Filters) WantAll() bool { return len(f.keys["status"]) > 0 }

// Match reports whether sb passes the filters.
func (f Filters) Match(sb *Sandbox) bool {
	for _, ms := range f.keys {
		hit := false
		for _, m := range ms {
			if m(sb) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// ancestorMatch: the image as it was named (with or without its tag and
// the localhost/ of a local image) or a prefix of its ID.
func ancestorMatch(sb *Sandbox, ref string) bool {
	if strings.HasPrefix(strings.TrimPrefix(sb.ImageID, "sha256:"), strings.TrimPrefix(ref, "sha256:")) && len(ref) >= 3 {
		return true
	}
	name := func(s string) string {
		s = strings.TrimPrefix(s, "localhost/")
		if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
			if s[i+1:] == "latest" {
				s = s[:i]
			}
		}
		return s
	}
	return name(sb.Image) == name(ref)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Rename gives a sandbox (running or not) a new name; ErrConflict when
// another sandbox has it.
func (e *Engine) Rename(ctx context.Context, ref, name string) error {
	sb, unlock, err := e.locked(ctx, ref)
	if err != nil {
		return err
	}
	defer unlock()
	return classify(sandbox.Rename(e.paths, sb.ID, name))
}
