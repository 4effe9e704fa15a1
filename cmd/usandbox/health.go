package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
)

// healthFlags are podman's --health-* flags of run and create.
func healthFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "health-cmd", Usage: "command (shell, or a JSON argv) that checks the sandbox's health"},
		&cli.StringFlag{Name: "health-interval", Usage: "time between checks (default 30s)"},
		&cli.StringFlag{Name: "health-timeout", Usage: "time a check may take before it fails (default 30s)"},
		&cli.StringFlag{Name: "health-start-period", Usage: "time the command has to start up, during which failures do not count (default 0s)"},
		&cli.IntFlag{Name: "health-retries", Usage: "failures in a row that make it unhealthy (default 3)"},
		&cli.BoolFlag{Name: "no-healthcheck", Usage: "no health check"},
	}
}

func parseHealthFlags(cmd *cli.Command) (*lifecycle.HealthConfig, error) {
	f := lifecycle.HealthFlags{
		Cmd: cmd.String("health-cmd"), Interval: cmd.String("health-interval"), Timeout: cmd.String("health-timeout"),
		StartPeriod: cmd.String("health-start-period"), None: cmd.Bool("no-healthcheck"),
	}
	if cmd.IsSet("health-retries") {
		n := int64(cmd.Int("health-retries"))
		f.Retries = &n
	}
	return lifecycle.ParseHealth(f)
}

// healthcheckCommand is podman's healthcheck group.
func healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "run a sandbox's health check",
		Commands: []*cli.Command{{
			Name:      "run",
			Usage:     "run the health check of a running sandbox once: exit 0 if it passed, 1 (printing unhealthy) if not",
			ArgsUsage: "SANDBOX",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.NArg() != 1 {
					return cliutil.UsageError(cmd, "healthcheck run takes exactly one sandbox")
				}
				e, err := engine(cmd)
				if err != nil {
					return err
				}
				ok, err := e.Healthcheck(ctx, cmd.Args().First())
				if err != nil {
					return err
				}
				if !ok {
					fmt.Println("unhealthy")
					return cliutil.ExitError{Code: 1}
				}
				return nil
			},
		}},
	}
}
