package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"usandbox/sandbox"
)

// HealthConfig is a sandbox's health check.
type HealthConfig = sandbox.HealthConfig

// HealthFlags are podman's --health-* flags as given ("" and nil: not
// given).
type HealthFlags struct {
	Cmd, Interval, Timeout, StartPeriod string
	Retries                             *int64
	None                                bool // --no-healthcheck
}

// ParseHealth turns the flags into a check (nil: none). The command is a
// shell command line, or an argv in JSON ('["CMD","pg_isready"]' or
// '["pg_isready"]'), as podman takes it; the defaults are docker's and
// podman's (every 30 s, 30 s to answer, 3 failures in a row).
func ParseHealth(f HealthFlags) (*HealthConfig, error) {
	h, err := parseHealth(f)
	return h, as(ErrInvalid, err)
}

func parseHealth(f HealthFlags) (*HealthConfig, error) {
	if f.None {
		if f.Cmd != "" {
			return nil, errors.New("--no-healthcheck conflicts with --health-cmd: give one of them")
		}
		return nil, nil
	}
	if f.Cmd == "" {
		if f.Interval != "" || f.Timeout != "" || f.StartPeriod != "" || f.Retries != nil {
			return nil, errors.New("--health-interval, --health-timeout, --health-start-period and --health-retries need --health-cmd")
		}
		return nil, nil
	}
	h := &HealthConfig{Test: []string{"CMD-SHELL", f.Cmd}, Interval: 30 * time.Second, Timeout: 30 * time.Second, Retries: 3}
	var argv []string
	if strings.HasPrefix(f.Cmd, "[") && json.Unmarshal([]byte(f.Cmd), &argv) == nil {
		switch {
		case len(argv) > 0 && (argv[0] == "CMD" || argv[0] == "CMD-SHELL"):
			h.Test = argv
		default:
			h.Test = append([]string{"CMD"}, argv...)
		}
		if len(h.Test) < 2 || h.Test[1] == "" {
			return nil, fmt.Errorf("invalid --health-cmd %q: it names no command", f.Cmd)
		}
	}
	for _, d := range []struct {
		flag, v string
		to      *time.Duration
		min     time.Duration
	}{
		{"--health-interval", f.Interval, &h.Interval, time.Second},
		{"--health-timeout", f.Timeout, &h.Timeout, time.Second},
		{"--health-start-period", f.StartPeriod, &h.StartPeriod, 0},
	} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v < d.min {
			return nil, fmt.Errorf("invalid %s %q: want a duration of at least %v, such as 30s or 1m", d.flag, d.v, d.min)
		}
		*d.to = v
	}
	if f.Retries != nil {
		if *f.Retries < 1 {
			return nil, fmt.Errorf("invalid --health-retries %d: it must be at least 1", *f.Retries)
		}
		h.Retries = int(*f.Retries)
	}
	return h, nil
}

// healthOutputMax is how much of a check's output is kept (docker's).
const healthOutputMax = 4096

// Healthcheck runs the sandbox's health check once, records the result
// and reports whether this check passed (podman's healthcheck run).
func (e *Engine) Healthcheck(ctx context.Context, ref string) (bool, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return false, err
	}
	if sb.Healthcheck == nil {
		return false, as(ErrInvalid, fmt.Errorf("container %s has no defined healthcheck", sb.ID))
	}
	if !sb.State.Running {
		return false, as(ErrNotRunning, fmt.Errorf("container %s is not running", sandbox.ShortID(sb.ID)))
	}
	r, err := e.check(sb)
	if err != nil {
		return false, err
	}
	if _, err := sandbox.RecordHealth(sb.Dir, sb.Healthcheck, sb.State.StartedAt, r); err != nil {
		return false, err
	}
	return r.ExitCode == 0, nil
}

// check runs the check in sb, killing it past its timeout.
func (e *Engine) check(sb *Sandbox) (sandbox.HealthResult, error) {
	var out limitedBuffer
	r := sandbox.HealthResult{Start: time.Now()}
	code, err := e.host.Exec(e.paths, sb, ExecOptions{Args: sb.Healthcheck.Argv(), Output: &out, Timeout: sb.Healthcheck.Timeout})
	r.End = time.Now()
	switch {
	case errors.Is(err, sandbox.ErrExecTimeout):
		// docker's words and code for it.
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%v)", sb.Healthcheck.Timeout)
	case err != nil:
		if Kind(classify(err)) == ErrNotRunning {
			return r, classify(err)
		}
		r.ExitCode, r.Output = -1, err.Error()
	default:
		r.ExitCode, r.Output = code, out.String()
	}
	return r, nil
}

// healthLoop runs the sandbox's check on its interval until ctx ends (the
// sandbox's watcher runs it while the sandbox runs).
func (e *Engine) healthLoop(ctx context.Context, id string) {
	sb, err := sandbox.Load(e.paths, id)
	if err != nil || sb.Healthcheck == nil {
		return
	}
	t := time.NewTicker(sb.Healthcheck.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The result is in the sandbox's health; a sandbox that stopped
		// meanwhile ends the loop by ctx.
		_, _ = e.Healthcheck(ctx, id)
	}
}

// WatchHealth runs the health checks of sandbox id in the background;
// the returned function stops them.
func (e *Engine) WatchHealth(id string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.healthLoop(ctx, id)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// limitedBuffer keeps the first healthOutputMax bytes written to it.
type limitedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := healthOutputMax - len(l.b); n > 0 {
		l.b = append(l.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
