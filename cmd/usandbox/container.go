package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
)

// createCommand is run without starting: it prints the new sandbox's ID,
// for start (or start -a) later.
func createCommand() *cli.Command {
	one := 1
	var flags []cli.Flag
	for _, f := range runFlags() {
		if !contains(f.Names(), "detach") {
			flags = append(flags, f)
		}
	}
	return &cli.Command{
		Name:         "create",
		Usage:        "create a sandbox, not started (start, or start -a, starts it)",
		ArgsUsage:    "IMAGE [COMMAND [ARG...]]",
		StopOnNthArg: &one,
		Flags:        flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			_, sb, err := createFromFlags(ctx, cmd)
			if err != nil {
				return err
			}
			fmt.Println(sb.ID)
			return nil
		},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// startAttached is start -a: one sandbox in the foreground, its exit
// status.
func startAttached(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 || cmd.Bool("all") {
		return cliutil.UsageError(cmd, "start --attach takes exactly one sandbox")
	}
	e, err := engine(cmd)
	if err != nil {
		return err
	}
	code, err := e.StartAttached(ctx, cmd.Args().First(), lifecycle.Streams{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Interactive: cmd.Bool("interactive"),
	})
	return exitWith(code, err)
}

// allOf is what --all selects for the command name: every sandbox for
// rm, those that do not run for start, the running ones otherwise.
func allOf(ctx context.Context, e *lifecycle.Engine, name string) ([]string, error) {
	list, err := e.List(ctx, lifecycle.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, sb := range list {
		if name == "rm" || (name == "start") != sb.State.Running {
			ids = append(ids, sb.ID)
		}
	}
	return ids, nil
}

func restartCommand() *cli.Command {
	return &cli.Command{
		Name:      "restart",
		Usage:     "stop sandboxes (SIGTERM, SIGKILL after the grace period) and start them again",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL (default: the sandbox's --stop-timeout, else 10)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			grace := graceFlag(cmd)
			return eachSandbox(cmd, func(e *lifecycle.Engine, ref string) error {
				if _, err := e.Restart(ctx, ref, grace); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:  "attach",
		Usage: "print a running sandbox's output until it exits",
		Description: "attach follows what a detached sandbox writes from now on. A detached sandbox has no stdin " +
			"(as with podman's run -d without -i): attach only reads.",
		ArgsUsage: "SANDBOX",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "attach takes exactly one sandbox")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			// podman 4.3 exits 0 once the sandbox has ended, whatever
			// the command's status: so does usandbox.
			_, err = e.Attach(ctx, cmd.Args().First(), printLogEntry(false))
			return err
		},
	}
}

// containerCommand is podman's container group: the sandbox commands
// under their podman names.
func containerCommand() *cli.Command {
	ls := psCommand()
	ls.Name, ls.Aliases = "ls", []string{"list", "ps"}
	return &cli.Command{
		Name:  "container",
		Usage: "manage sandboxes (podman's container group)",
		Commands: []*cli.Command{
			ls, rmCommand(), inspectCommandOf(typeContainer, "show sandboxes in docker's schema"), startCommand(), stopCommand(), killCommand(), restartCommand(),
			logsCommand(), waitCommand(), execCommand(), createCommand(), runCommand(), containerPruneCommand(),
			existsCommand(), portCommand(), attachCommand(),
			renameCommand(), topCommand(), diffCommand(), pauseCommand("pause"), pauseCommand("unpause"), statsCommand(),
			commitCommand(),
		},
	}
}

// containerPruneCommand removes every stopped sandbox and prints their
// IDs. Without --force it asks first on stdin, as podman does.
func containerPruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove every sandbox that does not run",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "container prune takes no arguments")
			}
			if !cmd.Bool("force") {
				ok, err := confirm("WARNING! This will remove all non running containers.\nAre you sure you want to continue? [y/N] ")
				if err != nil || !ok {
					return err
				}
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			ids, err := e.Prune(ctx)
			for _, id := range ids {
				fmt.Println(id)
			}
			return err
		},
	}
}

// existsCommand: exit 0 if the sandbox exists, 1 if not, as podman.
func existsCommand() *cli.Command {
	return existsCmd("sandbox", "SANDBOX", func(ctx context.Context, e *lifecycle.Engine, ref string) error {
		_, err := e.Lookup(ctx, ref)
		return err
	})
}

// existsCmd is podman's `GROUP exists`: exit 0 if lookup finds the one
// thing named, 1 if it is not there (ErrNotFound), 125 if lookup failed.
func existsCmd(what, arg string, lookup func(context.Context, *lifecycle.Engine, string) error) *cli.Command {
	return &cli.Command{
		Name:      "exists",
		Usage:     "exit 0 if the " + what + " exists, 1 if not",
		ArgsUsage: arg,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "%s exists takes exactly one %s", cmd.Lineage()[1].Name, what)
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			if err := lookup(ctx, e, cmd.Args().First()); err != nil {
				if errors.Is(err, lifecycle.ErrNotFound) {
					return cliutil.ExitError{Code: 1}
				}
				return err
			}
			return nil
		},
	}
}

// imageGroupCommand is podman's image group. What usandbox-image does is
// handed to it under its own command names.
func imageGroupCommand() *cli.Command {
	rm := rmiCommand()
	rm.Name, rm.Aliases = "rm", []string{"remove"}
	return &cli.Command{
		Name:  "image",
		Usage: "manage images (podman's image group)",
		Commands: []*cli.Command{
			imageToolCommand("ls", []string{"list"}, "images", "list images", ""),
			rm,
			imageToolCommand("pull", nil, "pull", "pull an image from a registry, an OCI layout or an archive", "IMAGE"),
			imageInspectCommand(),
			imageExistsCommand(),
			imagePruneCommand(),
			imageToolCommand("tag", nil, "tag", "give an image more names", "IMAGE NAME..."),
			imageToolCommand("untag", nil, "untag", "remove names of an image (all of them if none are given)", "IMAGE [NAME...]"),
			imageToolCommand("push", nil, "push", pushUsage, "IMAGE [DEST]"),
			imageToolCommand("save", nil, "save", saveUsage, "IMAGE..."),
			imageToolCommand("load", nil, "load", loadUsage, ""),
			imageToolCommand("history", nil, "history", historyUsage, "IMAGE"),
			imageToolCommand("build", nil, "build", "build an image from a Containerfile or Dockerfile", "[CONTEXT]"),
			importCommand(),
		},
	}
}

// The usage lines of the commands usandbox-image does, in both places.
const (
	pushUsage    = "push an image to a registry, an OCI layout, an archive or a directory"
	saveUsage    = "write images to an archive file (docker-archive or oci-archive)"
	loadUsage    = "store the images of an archive file (or stdin)"
	historyUsage = "show the steps that made an image"
)

// imageToolCommand hands name to usandbox-image as its command tool,
// with the global flags and the arguments as given.
func imageToolCommand(name string, aliases []string, tool, usage, args string) *cli.Command {
	return &cli.Command{
		Name:            name,
		Aliases:         aliases,
		Usage:           usage,
		ArgsUsage:       args,
		SkipFlagParsing: true,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return cliutil.ExecImageTool(imageToolArgs(cmd, tool, cmd.Args().Slice()...))
		},
	}
}

// imageToolArgs are usandbox-image's arguments for its command tool: the
// global flags given, then args.
func imageToolArgs(cmd *cli.Command, tool string, args ...string) []string {
	var out []string
	for _, g := range []string{"root", "runroot"} {
		if cmd.IsSet(g) {
			out = append(out, "--"+g, cmd.String(g))
		}
	}
	return append(append(out, tool), args...)
}

func imageInspectCommand() *cli.Command {
	return inspectCommandOf(typeImage, "show images in docker's schema")
}

// imageExistsCommand: exit 0 if the store has the image, 1 if not, as
// podman.
func imageExistsCommand() *cli.Command {
	return &cli.Command{
		Name:      "exists",
		Usage:     "exit 0 if the image is in the store, 1 if not",
		ArgsUsage: "IMAGE",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "image exists takes exactly one image")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			known, err := e.ImageKnown(cmd.Args().First())
			if err != nil {
				return err
			}
			if !known {
				return cliutil.ExitError{Code: 1}
			}
			return nil
		},
	}
}
