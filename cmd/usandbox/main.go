// Command usandbox runs OCI images in rootless sandboxes. This package only
// decides the process role and turns flags into calls of the packages.
//
// usandbox itself never links containers/image or containers/storage: the
// image commands are handed to usandbox-image (installed beside it), so a
// sandbox start pays only for what it uses.
package main

import (
	"context"
	"os"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/internal/trace"
	"usandbox/lifecycle"
)

var version = "0.1.0-dev"

func main() {
	trace.Mark("main", "Go runtime up")
	// The process role comes first: a sandbox's setup, an exec or port
	// helper, a monitor, ... (package internal/role), or the CLI.
	if code, ok := lifecycle.RunRole(); ok {
		os.Exit(code)
	}
	app := newApp()
	trace.Mark("main", "commands built")
	code := cliutil.Main(app, os.Args)
	trace.Mark("main", "exit")
	os.Exit(code)
}

func newApp() *cli.Command {
	return cliutil.Setup(&cli.Command{
		Name:    "usandbox",
		Usage:   "run OCI images in rootless sandboxes, no daemon, no sudo",
		Version: version,
		Flags:   cliutil.GlobalFlags(),
		Commands: []*cli.Command{
			runCommand(),
			createCommand(),
			psCommand(),
			logsCommand(),
			startCommand(),
			restartCommand(),
			attachCommand(),
			stopCommand(),
			killCommand(),
			rmCommand(),
			waitCommand(),
			inspectCommand(),
			execCommand(),
			portCommand(),
			healthcheckCommand(),
			infoCommand(),
			versionCommand(),
			imageCommand("pull", "pull an image from a registry, an OCI layout or an archive", "IMAGE"),
			imageCommand("images", "list images", ""),
			imageCommand("build", "build an image from a Containerfile or Dockerfile", "[CONTEXT]"),
			rmiCommand(),
			containerCommand(),
			imageGroupCommand(),
			volumeCommand(),
			networkCommand(),
			doctorCommand(),
			systemCommand(),
			unshareCommand(),
			renameCommand(),
			topCommand(),
			diffCommand(),
			commitCommand(),
			importCommand(),
			pauseCommand("pause"),
			pauseCommand("unpause"),
			statsCommand(),
			cpCommand(),
			exportCommand(),
			imageToolCommand("tag", nil, "tag", "give an image more names", "IMAGE NAME..."),
			imageToolCommand("untag", nil, "untag", "remove names of an image (all of them if none are given)", "IMAGE [NAME...]"),
			imageToolCommand("push", nil, "push", pushUsage, "IMAGE [DEST]"),
			imageToolCommand("save", nil, "save", saveUsage, "IMAGE..."),
			imageToolCommand("load", nil, "load", loadUsage, ""),
			imageToolCommand("history", nil, "history", historyUsage, "IMAGE"),
			imageToolCommand("login", nil, "login", "check credentials with a registry and save them in the auth file", "REGISTRY"),
			imageToolCommand("logout", nil, "logout", "remove a registry's credentials from the auth file", "REGISTRY"),
		},
		EnableShellCompletion:           true,
		ConfigureShellCompletionCommand: configureCompletion,
		UseShortOptionHandling:          true,
		Suggest:                         true,
	})
}

// imageCommand hands a command to usandbox-image, which parses it itself.
func imageCommand(name, usage, args string) *cli.Command {
	return &cli.Command{
		Name:            name,
		Usage:           usage,
		ArgsUsage:       args,
		SkipFlagParsing: true,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return cliutil.ExecImageTool(os.Args[1:])
		},
	}
}
