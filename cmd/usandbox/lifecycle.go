package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/internal/format"
	"usandbox/lifecycle"
	"usandbox/sandbox"
)

func psCommand() *cli.Command {
	return &cli.Command{
		Name:    "ps",
		Aliases: []string{"list"},
		Usage:   "list sandboxes",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show stopped sandboxes too"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs and commands"},
			&cli.StringFlag{Name: "format", Usage: "json, table, or a Go template such as 'table {{.ID}}\t{{.Names}}\t{{.Status}}'"},
			&cli.BoolFlag{Name: "noheading", Usage: "do not print the header line"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "only sandboxes that match KEY=VALUE: id, name (a regular expression), label (KEY or KEY=VALUE), status, ancestor, exited"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			filters, err := lifecycle.ParseFilters(cmd.StringSlice("filter"))
			if err != nil {
				return cliutil.UsageError(cmd, "%v", err)
			}
			var tmpl *format.Template
			if f := cmd.String("format"); !format.IsDefaultTable(f) {
				if tmpl, err = format.Parse("ps", f); err != nil {
					return err
				}
			}
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "ps takes no arguments")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			list, err := e.List(ctx, lifecycle.ListOptions{All: cmd.Bool("all"), Filters: filters})
			if err != nil {
				return err
			}
			noTrunc := cmd.Bool("no-trunc")
			id := func(s string) string {
				if noTrunc {
					return s
				}
				return sandbox.ShortID(s)
			}
			switch {
			case tmpl != nil:
				return printPS(tmpl, list, noTrunc, cmd.Bool("noheading"))
			case cmd.Bool("quiet"):
				for _, sb := range list {
					fmt.Println(id(sb.ID))
				}
				return nil
			}
			now := time.Now()
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			if !cmd.Bool("noheading") {
				fmt.Fprintln(w, "SANDBOX ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
			}
			for _, sb := range list {
				command := strings.Join(sb.Command, " ")
				if !noTrunc && len(command) > 20 {
					command = command[:19] + "…"
				}
				fmt.Fprintf(w, "%s\t%s\t%q\t%s ago\t%s\t%s\t%s\n", id(sb.ID), sb.Image, command,
					humanAgo(now.Sub(sb.Created)), sb.StatusString(now), portsString(sb.Ports), sb.Name)
			}
			return w.Flush()
		},
	}
}

func humanAgo(d time.Duration) string {
	s := (&sandbox.Sandbox{State: sandbox.State{Status: sandbox.StatusRunning, StartedAt: time.Now().Add(-d)}}).StatusString(time.Now())
	return strings.TrimPrefix(s, "Up ")
}

func portsString(ps []lifecycle.Port) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

func portCommand() *cli.Command {
	return &cli.Command{
		Name:      "port",
		Usage:     "list a sandbox's published ports",
		ArgsUsage: "SANDBOX",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "port takes exactly one sandbox")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			sb, err := e.Inspect(ctx, cmd.Args().First())
			if err != nil {
				return err
			}
			for _, pt := range sb.Ports {
				host := pt.HostIP
				if host == "" {
					host = "0.0.0.0"
				}
				fmt.Printf("%d/%s -> %s\n", pt.Container, pt.Proto, net.JoinHostPort(host, strconv.Itoa(pt.HostPort)))
			}
			return nil
		},
	}
}

// engine is the lifecycle engine of the store that the global flags
// name.
func engine(cmd *cli.Command) (*lifecycle.Engine, error) {
	p, err := cliutil.Paths(cmd)
	if err != nil {
		return nil, err
	}
	cliutil.Debugf("store %s, run root %s", p.Root, p.RunRoot)
	e := lifecycle.New(p)
	e.Warn = cliutil.Warn
	return e, nil
}

// eachSandbox runs fn for every argument, printing what fails (one line
// each) and failing at the end if anything did, as docker does.
//
// A command with an --all flag given it takes no arguments: fn runs for
// the full ID of every sandbox that allOf(cmd.Name) selects.
func eachSandbox(cmd *cli.Command, fn func(e *lifecycle.Engine, ref string) error) error {
	all := cmd.Bool("all")
	switch {
	case all && cmd.NArg() > 0:
		return cliutil.UsageError(cmd, "no arguments are needed with --all")
	case !all && cmd.NArg() == 0:
		return cliutil.UsageError(cmd, "%s needs at least one sandbox", cmd.Name)
	}
	e, err := engine(cmd)
	if err != nil {
		return err
	}
	refs := cmd.Args().Slice()
	if all {
		if refs, err = allOf(context.Background(), e, cmd.Name); err != nil {
			return err
		}
	}
	// Joined, the errors keep their kinds (exit statuses) and print as
	// one line each.
	var errs []error
	for _, ref := range refs {
		if err := fn(e, ref); err != nil && !(all && settled(cmd.Name, err)) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settled: with --all, a sandbox that went where the command would take
// it between the listing and the command (stopped by itself, started or
// removed by someone else) is not a failure.
func settled(command string, err error) bool {
	switch {
	case errors.Is(err, lifecycle.ErrNotFound):
		return true
	case command == "stop" || command == "kill":
		return errors.Is(err, lifecycle.ErrNotRunning)
	case command == "start":
		return errors.Is(err, lifecycle.ErrAlreadyRunning)
	}
	return false
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start created or stopped sandboxes (their upper layer kept); -a: one, in the foreground",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "run one sandbox in the foreground: its output until it exits, its exit status"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "with --attach: keep stdin attached"},
			&cli.BoolFlag{Name: "all", Usage: "start every sandbox that does not run"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Bool("attach") {
				return startAttached(ctx, cmd)
			}
			return eachSandbox(cmd, func(e *lifecycle.Engine, ref string) error {
				if _, err := e.Start(ctx, ref); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop sandboxes: SIGTERM (or the image's StopSignal), SIGKILL after the grace period",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL (default: the sandbox's --stop-timeout, else 10)"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "stop every running sandbox"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			grace := graceFlag(cmd)
			return eachSandbox(cmd, func(e *lifecycle.Engine, ref string) error {
				if err := e.Stop(ctx, ref, grace); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "send a signal to sandboxes (default SIGKILL)",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every running sandbox"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			sig, err := lifecycle.ParseSignal(cmd.String("signal"))
			if err != nil {
				return cliutil.UsageError(cmd, "%v", err)
			}
			return eachSandbox(cmd, func(e *lifecycle.Engine, ref string) error {
				if err := e.Kill(ctx, ref, sig); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove sandboxes: record, upper layer, state",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running sandbox first"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every sandbox (running ones only with --force)"},
			&cli.BoolFlag{Name: "ignore", Aliases: []string{"i"}, Usage: "say nothing of sandboxes that do not exist"},
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Usage: "with --force: seconds of the stop signal before the kill (default: the sandbox's --stop-timeout, else kill at once)"},
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove the sandbox's anonymous volumes too"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			o := lifecycle.RemoveOptions{Force: cmd.Bool("force"), Grace: graceFlag(cmd), Volumes: cmd.Bool("volumes")}
			if err := lookupAll(ctx, cmd); err != nil {
				return rmExit(err)
			}
			return rmExit(eachSandbox(cmd, func(e *lifecycle.Engine, ref string) error {
				if err := e.Remove(ctx, ref, o); err != nil {
					if cmd.Bool("ignore") && errors.Is(err, lifecycle.ErrNotFound) {
						return nil
					}
					return err
				}
				fmt.Println(ref)
				return nil
			}))
		},
	}
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait for sandboxes to stop and print their exit codes",
		ArgsUsage: "SANDBOX...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachSandbox(cmd, func(e *lifecycle.Engine, ref string) error {
				code, err := e.Wait(ctx, ref)
				if err != nil {
					return err
				}
				fmt.Println(code)
				return nil
			})
		},
	}
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a detached sandbox's output",
		ArgsUsage: "SANDBOX",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the sandbox stops"},
			&cli.StringFlag{Name: "tail", Value: "all", Usage: "only the last N lines"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "prefix each line with its time"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "logs takes exactly one sandbox")
			}
			tail := -1
			if t := cmd.String("tail"); t != "all" {
				n, err := strconv.Atoi(t)
				if err != nil || n < 0 {
					return cliutil.UsageError(cmd, "--tail must be a number or all, not %q", t)
				}
				tail = n
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			return e.Logs(ctx, cmd.Args().First(), lifecycle.LogOptions{Tail: tail, Follow: cmd.Bool("follow")},
				printLogEntry(cmd.Bool("timestamps")))
		},
	}
}

// printLogEntry prints a log entry on the stream it came from.
func printLogEntry(timestamps bool) func(lifecycle.LogEntry) {
	return func(e lifecycle.LogEntry) {
		w := os.Stdout
		if e.Stream == "stderr" {
			w = os.Stderr
		}
		text := e.Text
		if timestamps {
			text = e.Time.Format(time.RFC3339Nano) + " " + text
		}
		if e.Partial {
			fmt.Fprint(w, text)
		} else {
			fmt.Fprintln(w, text)
		}
	}
}

// systemCommand: reset removes every sandbox (killing running ones), then
// hands over to usandbox-image for the images and the rest.
func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "manage usandbox's own data",
		Commands: []*cli.Command{checkCommand(), systemDfCommand(), systemPruneCommand(), serviceCommand(), {
			Name:  "reset",
			Usage: "remove every sandbox, image and all state",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if !cmd.Bool("force") {
					return cliutil.UsageError(cmd, "system reset removes all images and sandboxes: add --force to confirm")
				}
				e, err := engine(cmd)
				if err != nil {
					return err
				}
				if err := e.Reset(ctx); err != nil {
					return err
				}
				return cliutil.ExecImageTool(os.Args[1:])
			},
		}},
	}
}

// rmiCommand hands rmi to usandbox-image; with -f it first removes the
// sandboxes made from those images (podman's rmi -f), so that no sandbox
// is ever left whose layers are gone. Without -f, usandbox-image refuses
// an image in use (exit 2, naming the sandboxes).
func rmiCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmi",
		Usage:     "remove images (-f: and the sandboxes made from them)",
		ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove the sandboxes that use the image first"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every image"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Bool("all") && cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "no arguments are needed with --all")
			}
			if cmd.Bool("force") && (cmd.NArg() > 0 || cmd.Bool("all")) {
				e, err := engine(cmd)
				if err != nil {
					return err
				}
				refs := cmd.Args().Slice()
				if cmd.Bool("all") {
					if refs, err = e.ImageIDs(); err != nil {
						return err
					}
				}
				for _, ref := range refs {
					id, err := e.ImageID(ref)
					if err != nil {
						continue // usandbox-image says what is wrong
					}
					if err := e.RemoveUsersOf(ctx, id); err != nil {
						return err
					}
				}
			}
			var args []string
			if cmd.Bool("force") {
				args = append(args, "--force")
			}
			if cmd.Bool("all") {
				args = append(args, "--all")
			}
			return cliutil.ExecImageTool(imageToolArgs(cmd, "rmi", append(args, cmd.Args().Slice()...)...))
		},
	}
}

// checkCommand is podman's system check, simpler: one line per
// inconsistency of the store, mended with --repair. Exit 0 when nothing is
// left wrong, 1 when something was found and not repaired.
func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "find (and with --repair mend) inconsistencies of the store: sandboxes without layers or record, --rm leftovers, stale run-root state",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "repair", Usage: "remove what is broken or left over (never a running sandbox)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "system check takes no arguments")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			found, err := e.Check(ctx, cmd.Bool("repair"))
			if err != nil {
				return err
			}
			left := 0
			for _, f := range found {
				what := "sandbox"
				if f.Path != "" {
					what = "run root"
				}
				line := fmt.Sprintf("%s %s: %s: %s", what, sandbox.ShortID(f.ID), f.Kind, f.Detail)
				switch {
				case f.Repaired:
					line += " (repaired)"
				case f.Live:
					line += " (it runs: stop it, then repair)"
					left++
				case f.Err != nil:
					line += " (not repaired: " + f.Err.Error() + ")"
					left++
				default:
					left++
				}
				fmt.Println(line)
			}
			if left > 0 {
				return cliutil.ExitError{Code: 1}
			}
			return nil
		},
	}
}
