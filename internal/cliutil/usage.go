package cliutil

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v3"
)

// usageError is a command line the CLI refuses before doing anything,
// printed as podman prints it: the error, then where help is. Exit 125.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

// CodeError is an error printed as usual whose exit status is Code, for
// the commands where podman's status is not 125 (rm of an unknown
// sandbox: 1).
type CodeError struct {
	Code int
	Err  error
}

func (e *CodeError) Error() string { return e.Err.Error() }
func (e *CodeError) Unwrap() error { return e.Err }

// unknownCommand finds, before urfave/cli parses anything, a command
// name that names no command of app or of a group under it: urfave/cli
// would take it for an argument (or a help topic) and fail later on a flag
// that belongs to the command the user meant.
func unknownCommand(app *cli.Command, args []string) error {
	c, path := app, app.Name
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if strings.HasPrefix(a, "-") {
			if c != app {
				return nil // the command's own flags: urfave/cli checks them
			}
			// A global flag; --root, --runroot and --log-level take the
			// next word.
			switch strings.TrimLeft(a, "-") {
			case "root", "runroot", "log-level":
				if i+1 < len(args) {
					i++
				}
			}
			continue
		}
		if len(c.Commands) == 0 {
			return nil // an argument of a command
		}
		sub := c.Command(a)
		if sub == nil {
			if c.Action != nil || addedByCLI(a) {
				return nil
			}
			return &usageError{
				msg:  fmt.Sprintf("unrecognized command `%s %s`", path, a),
				hint: fmt.Sprintf("Try '%s --help' for more information", path),
			}
		}
		c, path = sub, path+" "+sub.Name
	}
	return nil
}

// addedByCLI reports whether name is a command urfave/cli adds when it
// runs (and so not yet in the tree unknownCommand walks).
func addedByCLI(name string) bool {
	return name == "help" || name == "h" || name == "completion"
}

// flagError turns urfave/cli's "flag provided but not defined: -x" into
// podman's "unknown flag: --xx" (or "unknown shorthand flag: 'x' in -x"),
// naming the command's help.
func flagError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	hint := fmt.Sprintf("See '%s --help'", cmd.FullName())
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		name = strings.TrimPrefix(name, "-")
		if len(name) == 1 {
			msg = fmt.Sprintf("unknown shorthand flag: '%s' in -%s", name, name)
		} else {
			msg = "unknown flag: --" + name
		}
	}
	return &usageError{msg: msg, hint: hint}
}

// printUsageError prints a usageError as podman does.
func printUsageError(e *usageError) {
	PrintError(e)
	fmt.Fprintln(os.Stderr, e.hint)
}

// unknownHelpTopic is podman's answer to help NOSUCH: the topic named,
// then the command's help, on stderr, and exit 0.
func unknownHelpTopic(_ context.Context, cmd *cli.Command, topic string) {
	fmt.Fprintf(os.Stderr, "Unknown help topic [`%s`]\n", topic)
	tmpl := cli.SubcommandHelpTemplate
	if cmd.Root() == cmd {
		tmpl = cli.RootCommandHelpTemplate
	}
	cli.HelpPrinter(os.Stderr, tmpl, cmd)
}
