package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/storage"
	"usandbox/storage/index"
	"usandbox/userns"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "manage usandbox's own data",
		Commands: []*cli.Command{{
			Name:  "reset",
			Usage: "remove every image, sandbox and all state (files owned by sub-IDs need the user namespace to go)",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if !cmd.Bool("force") {
					return cliutil.UsageError(cmd, "system reset removes all images and sandboxes: add --force to confirm")
				}
				return cliutil.InUserNS(ctx, cmd, func(ctx context.Context, _ userns.Mode, p index.Paths) error {
					if err := storage.Reset(p); err != nil {
						return err
					}
					fmt.Println("removed", p.Root, "and", p.RunRoot)
					return nil
				})
			},
		}, {
			// For usandbox info, which does not link the parser.
			Name:   "registries",
			Usage:  "print registries.conf's search registries as JSON",
			Hidden: true,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				regs, err := storage.SearchRegistries()
				if err != nil {
					return err
				}
				out := map[string]any{}
				if len(regs) > 0 {
					out["search"] = regs
				}
				return cliutil.PrintJSON(out)
			},
		}},
	}
}
