package main

import (
	"context"
	"os"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
	"usandbox/sandbox"
)

func execCommand() *cli.Command {
	one := 1
	return &cli.Command{
		Name:         "exec",
		Usage:        "run a command in a running sandbox",
		ArgsUsage:    "SANDBOX COMMAND [ARG...]",
		StopOnNthArg: &one,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin attached"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group], names or numbers"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set KEY=VALUE"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 2 {
				return cliutil.UsageError(cmd, "exec needs a sandbox and a command")
			}
			if err := checkTTY(cmd.Bool("interactive"), cmd.Bool("tty")); err != nil {
				return err
			}
			env, err := sandbox.ParseEnv(cmd.StringSlice("env"), os.LookupEnv)
			if err != nil {
				return err
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			code, err := e.Exec(ctx, cmd.Args().First(), lifecycle.ExecOptions{
				Args: cmd.Args().Slice()[1:], Env: env, User: cmd.String("user"), Workdir: cmd.String("workdir"),
				TTY: cmd.Bool("tty"),
				Streams: lifecycle.Streams{
					Stdin: os.Stdin, Stdout: cliutil.CommandStdout(ctx), Stderr: os.Stderr, Interactive: cmd.Bool("interactive"),
				},
			})
			return execExit(exitWith(code, err))
		},
	}
}
