package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/sandbox"
)

// Restart policies (docker's and podman's --restart).
const (
	RestartNo            = "no"
	RestartOnFailure     = "on-failure"
	RestartAlways        = "always"
	RestartUnlessStopped = "unless-stopped"
)

// ParseRestart parses --restart POLICY[:N]; autoRemove is --rm, which
// podman refuses with any policy but no.
func ParseRestart(s string, autoRemove bool) (policy string, max int, err error) {
	policy, max, err = parseRestart(s)
	if err == nil && autoRemove && policy != "" && policy != RestartNo {
		err = errors.New(`the --rm option conflicts with --restart, when the restartPolicy is not "" and "no"`)
	}
	return policy, max, as(ErrInvalid, err)
}

func parseRestart(s string) (string, int, error) {
	policy, n, hasN := strings.Cut(s, ":")
	switch policy {
	case "", RestartNo, RestartAlways, RestartUnlessStopped:
		if hasN {
			return "", 0, fmt.Errorf("invalid --restart %q: only on-failure takes a retry count", s)
		}
		return policy, 0, nil
	case RestartOnFailure:
		if !hasN {
			return policy, 0, nil
		}
		max, err := strconv.Atoi(n)
		if err != nil || max < 1 {
			return "", 0, fmt.Errorf("invalid --restart %q: the retry count must be a number greater than 0", s)
		}
		return policy, max, nil
	}
	return "", 0, fmt.Errorf("invalid --restart %q: use no, on-failure[:N], always or unless-stopped", s)
}

// restartDue says whether the policy starts a sandbox whose command ended
// with code again, restarts being how often it already did.
func restartDue(policy string, max, restarts, code int, stoppedByUser bool) bool {
	if stoppedByUser {
		return false
	}
	switch policy {
	case RestartAlways, RestartUnlessStopped:
		return true
	case RestartOnFailure:
		return code != 0 && (max == 0 || restarts < max)
	}
	return false
}

// restartDelay is docker's backoff: 100 ms, doubled with each restart in
// a row, at most a minute; a run of 10 s or more starts it over.
func restartDelay(restarts int, ran time.Duration) time.Duration {
	if ran >= 10*time.Second || restarts == 0 {
		return 100 * time.Millisecond
	}
	d := 100 * time.Millisecond << min(restarts, 10)
	return min(d, time.Minute)
}

// AfterExit applies the restart policy of the sandbox id, whose command
// just ended with code and whose watcher no longer holds it: it starts the
// sandbox again, detached, when the policy says so. It is called by what
// watched the sandbox (a monitor's finish step, or a foreground run); no
// daemon is involved. A stop or kill by the user, or a removal, before the
// delay is over wins.
//
// release, if not nil, is called once a restart is due, before the wait:
// it lets go of what keeps the sandbox looking as if it ran.
func (e *Engine) AfterExit(ctx context.Context, id string, release func() error) error {
	sb, err := sandbox.Load(e.paths, id)
	if err != nil || sb.AutoRemove || sb.RestartPolicy == "" || sb.RestartPolicy == RestartNo {
		return nil // removed, or nothing to do
	}
	code := sb.State.ExitCode
	if !restartDue(sb.RestartPolicy, sb.RestartMax, sb.State.RestartCount, code, sb.State.StoppedByUser) {
		return nil
	}
	if release != nil {
		if err := release(); err != nil {
			return err
		}
	}
	ran := sb.State.FinishedAt.Sub(sb.State.StartedAt)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(restartDelay(sb.State.RestartCount, ran)):
	}
	sb, unlock, err := e.locked(ctx, id)
	if err != nil {
		if Kind(err) == ErrNotFound {
			return nil
		}
		return err
	}
	defer unlock()
	if sandbox.Locked(sb.Dir) || !restartDue(sb.RestartPolicy, sb.RestartMax, sb.State.RestartCount, sb.State.ExitCode, sb.State.StoppedByUser) {
		return nil // started, stopped or killed by the user meanwhile
	}
	if err := sandbox.CountRestart(sb.Dir); err != nil {
		return err
	}
	return e.start(sb)
}

// releaseInherited is for a finish step about to restart its sandbox: it
// closes the sandbox's lock, which it inherited from the lean monitor
// (found by its file's identity), so that the sandbox reads as stopped,
// and makes every other inherited descriptor close-on-exec, so that none
// reaches the new monitor.
func releaseInherited(lockPath string) error {
	// The Go runtime's own descriptors are close-on-exec already; only
	// what the C loop passed on is not.
	var want unix.Stat_t
	if err := unix.Stat(lockPath, &want); err != nil {
		return err
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, ent := range ents {
		fd, err := strconv.Atoi(ent.Name())
		if err != nil || fd < 3 {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			continue // the directory's own descriptor, now closed
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			unix.Close(fd)
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}
