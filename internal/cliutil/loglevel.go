package cliutil

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"usandbox/internal/trace"
)

// logLevelEnv carries --log-level to this process's helpers and to the
// copies of usandbox it runs (in a user namespace, usandbox-image), so
// that they log as it does.
const logLevelEnv = "USANDBOX_LOG_LEVEL"

// LogLevels are --log-level's values, podman's.
var LogLevels = []string{"trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"}

// level is the rank of a --log-level: trace 0 … panic 6 (warn and warning
// are one).
func level(s string) int {
	switch s {
	case "trace":
		return 0
	case "debug":
		return 1
	case "info":
		return 2
	case "", "warn", "warning":
		return 3
	case "error":
		return 4
	case "fatal":
		return 5
	}
	return 6
}

func currentLevel() int { return level(os.Getenv(logLevelEnv)) }

// Debugf prints what usandbox does, on stderr, at --log-level debug (and
// trace), in podman's form.
func Debugf(format string, a ...any) { logf(1, "debug", format, a...) }

func logf(rank int, name, format string, a ...any) {
	if currentLevel() > rank {
		return
	}
	fmt.Fprintf(os.Stderr, "time=%q level=%s msg=%q\n", time.Now().Format(time.RFC3339), name, fmt.Sprintf(format, a...))
}

type stdoutKey struct{}

// globalBefore applies --log-level and --noout before any command runs.
// --noout points os.Stdout, what usandbox prints with, at /dev/null and
// keeps the real stdout in the context for the sandbox's command
// (CommandStdout): usandbox's own output goes, the command's stays, as
// podman's --noout does. fd 1 itself is left alone: the copies of
// usandbox this one runs (in a user namespace, in a systemd scope,
// usandbox-image) get --noout on their command line and apply it
// themselves, and so still reach the real stdout for a command.
func globalBefore(ctx context.Context, cmd *cli.Command) (context.Context, error) {
	if cmd.IsSet("log-level") {
		l := strings.ToLower(cmd.String("log-level"))
		found := false
		for _, v := range LogLevels {
			found = found || v == l
		}
		if !found {
			// podman's words and status.
			fmt.Fprintf(os.Stderr, "Log Level %q is not supported, choose from: %s\n", cmd.String("log-level"), strings.Join(LogLevels, ", "))
			return ctx, ExitError{Code: 1}
		}
		if err := os.Setenv(logLevelEnv, l); err != nil {
			return ctx, err
		}
	}
	if currentLevel() <= 1 {
		trace.Enable()
		Debugf("called %s", strings.Join(os.Args, " "))
	}
	if cmd.Bool("noout") {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return ctx, fmt.Errorf("--noout: %w", err)
		}
		ctx = context.WithValue(ctx, stdoutKey{}, os.Stdout)
		os.Stdout = null
	}
	return ctx, nil
}

// CommandStdout is where a foreground sandbox's (or exec'd) command
// writes its output: stdout, also under --noout.
func CommandStdout(ctx context.Context) *os.File {
	if f, ok := ctx.Value(stdoutKey{}).(*os.File); ok {
		return f
	}
	return os.Stdout
}
