package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
)

// commitCommand is podman's commit: SANDBOX [IMAGE].
func commitCommand() *cli.Command {
	return &cli.Command{
		Name:      "commit",
		Usage:     "make an image of a sandbox's files and settings",
		ArgsUsage: "SANDBOX [IMAGE]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply a Dockerfile instruction to the image's config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, …)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "the commit message, in the image's history"},
			&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: "the image's author"},
			&cli.BoolFlag{Name: "pause", Aliases: []string{"p"}, Usage: "freeze a running sandbox while its files are read"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID (usandbox prints nothing else)"},
			&cli.StringFlag{Name: "iidfile", Usage: "write the image ID to this file"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 || cmd.NArg() > 2 {
				return cliutil.UsageError(cmd, "commit takes a sandbox and, optionally, the new image's name")
			}
			e, err := imageEngine(cmd)
			if err != nil {
				return err
			}
			im, err := e.Commit(ctx, cmd.Args().First(), lifecycle.CommitOptions{
				Name: cmd.Args().Get(1), Changes: cmd.StringSlice("change"),
				Message: cmd.String("message"), Author: cmd.String("author"), Pause: cmd.Bool("pause"),
			})
			if err != nil {
				return err
			}
			if f := cmd.String("iidfile"); f != "" {
				if err := os.WriteFile(f, []byte("sha256:"+im.ID), 0o644); err != nil {
					return fmt.Errorf("writing --iidfile: %w", err)
				}
			}
			fmt.Println(im.ID)
			return nil
		},
	}
}

// imageEngine is engine with the image tool set, for commands that store
// images.
func imageEngine(cmd *cli.Command) (*lifecycle.Engine, error) {
	e, err := engine(cmd)
	if err != nil {
		return nil, err
	}
	if e.ImageTool, err = cliutil.ImageTool(); err != nil {
		return nil, err
	}
	return e, nil
}
