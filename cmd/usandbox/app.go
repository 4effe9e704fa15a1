package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/urfave/cli/v3"
	"go.podman.io/image/v5/types"
	"golang.org/x/sys/unix"

	"usandbox/storage"
	"usandbox/userns"
)

func newApp() *cli.Command {
	app := &cli.Command{
		Name:    "usandbox",
		Usage:   "run OCI images in rootless sandboxes, no daemon, no sudo",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "where images and sandboxes are stored (default $XDG_DATA_HOME/usandbox)"},
			&cli.StringFlag{Name: "runroot", Usage: "where runtime state is kept (default $XDG_RUNTIME_DIR/usandbox)"},
		},
		Commands: []*cli.Command{
			pullCommand(),
			imagesCommand(),
			rmiCommand(),
			doctorCommand(),
			systemCommand(),
		},
		EnableShellCompletion:  true,
		UseShortOptionHandling: true,
		Suggest:                true,
		ExitErrHandler:         func(context.Context, *cli.Command, error) {},
	}
	setUsageErrors(app)
	return app
}

var version = "0.1.0-dev"

// setUsageErrors makes every flag error one line (printed by main) instead
// of a help page.
func setUsageErrors(c *cli.Command) {
	c.OnUsageError = func(_ context.Context, cmd *cli.Command, err error, _ bool) error {
		return fmt.Errorf("%w (see usandbox %s --help)", err, cmd.Name)
	}
	for _, sub := range c.Commands {
		setUsageErrors(sub)
	}
}

// usageError is a wrong number of arguments and the like.
func usageError(cmd *cli.Command, format string, a ...any) error {
	return fmt.Errorf("%s (see usandbox %s --help)", fmt.Sprintf(format, a...), cmd.Name)
}

func paths(cmd *cli.Command) (storage.Paths, error) {
	p, err := storage.DefaultPaths(userns.HostUID())
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
	return p, nil
}

// storeOptions are extra settings for withStore.
type storeOptions struct {
	skipTLSVerify types.OptionalBool
}

// inUserNS runs fn inside the user namespace that owns the store: an
// unprivileged user's process runs itself again in one (the copy runs this
// same command and reaches fn), real root runs fn directly. ctx is
// cancelled by SIGINT, SIGTERM and SIGHUP.
func inUserNS(ctx context.Context, cmd *cli.Command, fn func(context.Context, userns.Mode, storage.Paths) error) error {
	p, err := paths(cmd)
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
			warn(plan.Warning)
		}
		code, err := plan.Reexec()
		if err != nil {
			return err
		}
		return exitError{code}
	}
	if inside {
		// Our mounts (storage's checks) stay in this namespace.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("making mounts private: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer stop()
	return fn(ctx, mode, p)
}

// withStore runs fn with the store open, inside the user namespace.
func withStore(ctx context.Context, cmd *cli.Command, so storeOptions, fn func(context.Context, *storage.Store) error) error {
	return inUserNS(ctx, cmd, func(ctx context.Context, mode userns.Mode, p storage.Paths) error {
		st, err := storage.Open(storage.Options{
			Paths:             p,
			IgnoreChownErrors: mode == userns.Single,
			SkipTLSVerify:     so.skipTLSVerify,
			Warn:              warn,
		})
		if err != nil {
			return err
		}
		err = fn(ctx, st)
		if cerr := st.Close(); err == nil && cerr != nil {
			err = cerr
		}
		return err
	})
}
