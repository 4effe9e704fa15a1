package index

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ToolFailure is the error message usandbox-image sent (Kind ToolError).
type ToolFailure struct{ ToolMessage }

func (e *ToolFailure) Error() string { return e.Message }

// RunTool runs usandbox-image (tool) on the store p with args (one of
// them --json) and stdin (nil: none), and passes each message but an
// error to fn. An error message comes back as a *ToolFailure (its
// ErrorKind says which kind); a tool that failed without one, as an
// error with its stderr. The engine (package lifecycle) and build, which
// runs in usandbox-image outside the user namespace, both use it.
func RunTool(ctx context.Context, tool string, p Paths, args []string, stdin io.Reader, fn func(ToolMessage)) error {
	cmd := exec.CommandContext(ctx, tool, append([]string{"--root", p.Root, "--runroot", p.RunRoot}, args...)...)
	cmd.Args[0] = "usandbox"
	// A pull cut short rolls back on SIGTERM (it leaves no layer behind).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdin = stdin
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running usandbox-image: %w", err)
	}
	var failed *ToolMessage
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m ToolMessage
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue // not ours: a warning that went to stdout
		}
		if m.Kind == ToolError {
			failed = &m
			continue
		}
		if fn != nil {
			fn(m)
		}
	}
	io.Copy(io.Discard, out) // what a too long line left: the tool must not block on it
	werr := cmd.Wait()
	if failed != nil {
		return &ToolFailure{*failed}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if werr != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "Error: "))
		if msg == "" {
			msg = werr.Error()
		}
		return fmt.Errorf("usandbox-image %s: %s", args[0], msg)
	}
	return nil
}
