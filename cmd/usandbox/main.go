// Command usandbox runs OCI images in rootless sandboxes. This package only
// decides the process role and turns flags into calls of the packages.
//
// usandbox itself never links containers/image or containers/storage: the
// image commands are handed to usandbox-image (installed beside it), so a
// sandbox start pays only for what it uses.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v3"

	"usandbox/doctor"
	"usandbox/internal/cliutil"
	"usandbox/internal/trace"
	"usandbox/network"
	"usandbox/nsexec"
	"usandbox/sandbox"
	"usandbox/sandbox/inner"
	"usandbox/sandbox/lean"
)

var version = "0.1.0-dev"

func main() {
	trace.Mark("main", "Go runtime up")
	// The process role comes first: a sandbox's setup process (its init
	// and keeper are C, see nsexec), an exec or port helper, a doctor probe,
	// or the CLI.
	if conn, ok := nsexec.Conn(); ok {
		switch os.Getenv(roleName) {
		case roleInit:
			os.Exit(inner.Main(conn))
		case roleExec:
			os.Exit(inner.ExecMain(conn))
		case rolePortChild:
			os.Exit(network.PortChildMain(conn))
		}
	}
	if os.Getenv(roleName) == roleFinish {
		os.Exit(finishMain(os.Args[1:]))
	}
	if os.Getenv(roleName) == roleMonitor {
		os.Unsetenv(roleName)
		os.Exit(monitorMain(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == removeArg {
		os.Exit(removeMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == doctor.ProbeArg {
		os.Exit(doctor.ProbeMain(os.Args[2:]))
	}
	os.Exit(cliutil.Main(newApp(), os.Args))
}

const roleName, roleInit, roleExec, rolePortChild = "_USANDBOX_ROLE", "sandbox", "exec", "portchild"

func newApp() *cli.Command {
	return cliutil.Setup(&cli.Command{
		Name:    "usandbox",
		Usage:   "run OCI images in rootless sandboxes, no daemon, no sudo",
		Version: version,
		Flags:   cliutil.GlobalFlags(),
		Commands: []*cli.Command{
			runCommand(),
			psCommand(),
			logsCommand(),
			startCommand(),
			stopCommand(),
			killCommand(),
			rmCommand(),
			waitCommand(),
			inspectCommand(),
			execCommand(),
			portCommand(),
			imageCommand("pull", "pull an image from a registry, an OCI layout or an archive", "IMAGE"),
			imageCommand("images", "list images", ""),
			rmiCommand(),
			doctorCommand(),
			systemCommand(),
		},
		EnableShellCompletion:  true,
		UseShortOptionHandling: true,
		Suggest:                true,
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
			return execImageTool(os.Args[1:])
		},
	}
}

// execImageTool replaces this process with usandbox-image and args.
func execImageTool(args []string) error {
	path, err := imageTool()
	if err != nil {
		return err
	}
	return syscall.Exec(path, append([]string{"usandbox"}, args...), os.Environ())
}

// imageTool finds usandbox-image beside this binary, or in
// ../libexec/usandbox for a packaged install.
func imageTool() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding usandbox-image: %w", err)
	}
	dir := filepath.Dir(self)
	for _, p := range []string{
		filepath.Join(dir, "usandbox-image"),
		filepath.Join(dir, "..", "libexec", "usandbox", "usandbox-image"),
	} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("usandbox-image is not installed next to %s: install both binaries (make build puts them in bin/)", self)
}

const roleFinish = "finish"

// finishMain is the last step of a lean monitor (package lean).
func finishMain(args []string) int {
	code, err := lean.FinishCode(args)
	if err == nil {
		err = sandbox.Finish(code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "usandbox finish:", err)
		return cliutil.ExitFailed
	}
	return code
}
