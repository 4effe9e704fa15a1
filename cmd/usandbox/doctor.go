package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"usandbox/doctor"
	"usandbox/internal/cliutil"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that this host can run rootless sandboxes, and say how to fix what it cannot",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "table or json"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			format, err := cliutil.Format(cmd)
			if err != nil {
				return err
			}
			p, err := cliutil.Paths(cmd)
			if err != nil {
				return err
			}
			results := doctor.Run(doctor.SelfProbes(p.Root))
			if format == "json" {
				if err := cliutil.PrintJSON(results); err != nil {
					return err
				}
			} else {
				w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
				for _, r := range results {
					fmt.Fprintf(w, "%s\t%s\t%s\n", r.Status, r.Name, r.Detail)
					if r.Fix != "" {
						fmt.Fprintf(w, "\t\tfix: %s\n", r.Fix)
					}
				}
				w.Flush()
			}
			if doctor.Failed(results) {
				return cliutil.ExitError{Code: 1}
			}
			return nil
		},
	}
}
