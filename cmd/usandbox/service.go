package main

import (
	"context"
	"time"

	"github.com/urfave/cli/v3"

	"usandbox/compat/dockerapi"
	"usandbox/internal/cliutil"
)

// serviceCommand is podman's system service: the Docker Engine API on a
// socket, until it has been idle for --time seconds.
func serviceCommand() *cli.Command {
	return &cli.Command{
		Name:      "service",
		Usage:     "serve the Docker Engine API (docker CLI, compose, testcontainers) on a socket until idle",
		ArgsUsage: "[unix://PATH | tcp://127.0.0.1:PORT]",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 5, Usage: "exit after this many seconds without a connection (0: never)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 1 {
				return cliutil.UsageError(cmd, "takes at most one URI, got %d", cmd.NArg())
			}
			if cmd.Int("time") < 0 {
				return cliutil.UsageError(cmd, "--time must be 0 (never) or a number of seconds, not %d", cmd.Int("time"))
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			if e.ImageTool, err = cliutil.ImageTool(); err != nil {
				return err
			}
			return dockerapi.New(e, version).ListenAndServe(ctx, cmd.Args().First(), time.Duration(cmd.Int("time"))*time.Second)
		},
	}
}
