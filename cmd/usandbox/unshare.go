package main

import (
	"context"

	"github.com/urfave/cli/v3"
)

// unshareCommand is podman's unshare: a command (or $SHELL) in the user
// namespace of the store.
func unshareCommand() *cli.Command {
	one := 1
	return &cli.Command{
		Name:      "unshare",
		Usage:     "run a command in usandbox's user namespace (your uid is root there, your sub-IDs follow), e.g. to remove files of your sub-IDs",
		ArgsUsage: "[COMMAND [ARG...]]",
		// Everything from the command on is its own.
		StopOnNthArg: &one,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			code, err := e.Unshare(cmd.Args().Slice())
			return exitWith(code, err)
		},
	}
}
