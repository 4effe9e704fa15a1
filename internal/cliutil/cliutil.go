// Package cliutil is the plumbing the usandbox commands share: exit
// statuses, one-line errors, global paths, and running a command inside
// the user namespace that owns the store.
package cliutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/storage/index"
	"usandbox/userns"
)

// Docker's exit statuses.
const (
	ExitFailed    = proto.ExitFailed // usandbox itself failed
	ExitCannotRun = 126              // the command cannot be invoked
	ExitNotFound  = 127              // the command was not found
)

// ExitError carries an exit status out of a command without a message:
// whoever produced it has already said what went wrong.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Main runs app and returns the process exit status, printing an error as
// one line.
func Main(app *cli.Command, args []string) int {
	err := unknownCommand(app, args)
	if err == nil {
		err = app.Run(context.Background(), args)
	}
	if err == nil {
		return 0
	}
	var ee ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		printUsageError(ue)
		return ExitFailed
	}
	PrintError(err)
	var ce *CodeError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ExitFailed
}

// PrintError prints err as the one line a user sees.
func PrintError(err error) {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	fmt.Fprintln(os.Stderr, "Error: "+msg)
}

// Warn prints a one-line warning.
func Warn(msg string) {
	if currentLevel() > 3 {
		return // --log-level error and above
	}
	fmt.Fprintln(os.Stderr, "WARN: "+msg)
}

// GlobalFlags are accepted before any command.
func GlobalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "root", Usage: "where images and sandboxes are stored (default $XDG_DATA_HOME/usandbox)"},
		&cli.StringFlag{Name: "runroot", Usage: "where runtime state is kept (default $XDG_RUNTIME_DIR/usandbox)"},
		&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "what usandbox tells on stderr: " + strings.Join(LogLevels, ", ") + " (debug: what it does; error: no warnings)"},
		&cli.BoolFlag{Name: "noout", Usage: "print nothing of usandbox's own on stdout (a sandbox's command still prints)"},
	}
}

// Setup makes every flag error of app one line (printed by Main) instead
// of a help page, and keeps urfave/cli from exiting on its own.
func Setup(app *cli.Command) *cli.Command {
	app.ExitErrHandler = func(context.Context, *cli.Command, error) {}
	app.Before = globalBefore
	setUsageErrors(app)
	return app
}

func setUsageErrors(c *cli.Command) {
	c.OnUsageError = flagError
	c.CommandNotFound = unknownHelpTopic
	// A repeated flag's values are taken whole: -e 'LIST=a,b' is one
	// variable, --tmpfs /x:size=1m,mode=1777 one mount.
	c.DisableSliceFlagSeparator = true
	for _, sub := range c.Commands {
		setUsageErrors(sub)
	}
}

// UsageError is a wrong number of arguments and the like.
func UsageError(cmd *cli.Command, format string, a ...any) error {
	return fmt.Errorf("%s (see usandbox %s --help)", fmt.Sprintf(format, a...), cmd.Name)
}

// Paths are the store's directories from the defaults and --root/--runroot.
func Paths(cmd *cli.Command) (index.Paths, error) {
	p, err := index.DefaultPaths(userns.HostUID())
	if err != nil {
		return p, err
	}
	if r := cmd.String("root"); r != "" {
		if p.Root, err = filepath.Abs(r); err != nil {
			return p, err
		}
	}
	if r := cmd.String("runroot"); r != "" {
		if p.RunRoot, err = filepath.Abs(r); err != nil {
			return p, err
		}
	}
	if _, inside := userns.InNamespace(); !inside && p.RunRoot == index.TempRunRoot(userns.HostUID()) {
		// In the shared /tmp: made and checked before anything uses it.
		if err := index.PrivateDir(p.RunRoot, os.Getuid()); err != nil {
			return p, err
		}
	}
	return p, nil
}

// InUserNS runs fn inside the user namespace that owns the store: an
// unprivileged user's process runs itself again in one (the copy runs this
// same command and reaches fn), real root runs fn directly. ctx is
// cancelled by SIGINT, SIGTERM and SIGHUP.
func InUserNS(ctx context.Context, cmd *cli.Command, fn func(context.Context, userns.Mode, index.Paths) error) error {
	p, err := Paths(cmd)
	if err != nil {
		return err
	}
	mode, inside := userns.InNamespace()
	if !inside && os.Geteuid() != 0 {
		plan, err := userns.Detect()
		if err != nil {
			return err
		}
		if plan.Warning != "" {
			Warn(plan.Warning)
		}
		code, err := plan.Reexec()
		if err != nil {
			return err
		}
		return ExitError{Code: code}
	}
	if inside {
		// Mounts made here (storage's checks) stay in this namespace.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("making mounts private: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer stop()
	return fn(ctx, mode, p)
}

// Format returns --format: "", "table" or "json"; anything else is a
// usage error.
func Format(cmd *cli.Command) (string, error) {
	f := cmd.String("format")
	if f != "" && f != "json" && f != "table" {
		return "", UsageError(cmd, "unknown --format %q: use table or json", f)
	}
	return f, nil
}

// PrintJSON prints v as indented JSON on stdout.
func PrintJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ExecImageTool replaces this process with usandbox-image and args.
func ExecImageTool(args []string) error {
	path, err := ImageTool()
	if err != nil {
		return err
	}
	return unix.Exec(path, append([]string{"usandbox"}, args...), os.Environ())
}

// ImageTool finds usandbox-image beside this binary, or in
// ../libexec/usandbox for a packaged install.
func ImageTool() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding usandbox-image: %w", err)
	}
	dir := filepath.Dir(self)
	for _, p := range []string{
		filepath.Join(dir, "usandbox-image"),
		filepath.Join(dir, "..", "libexec", "usandbox", "usandbox-image"),
	} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("usandbox-image is not installed next to %s: install both binaries (make build puts them in bin/)", self)
}
