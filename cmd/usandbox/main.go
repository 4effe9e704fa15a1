// Command usandbox runs OCI images in rootless sandboxes. This file only
// decides the process role and turns flags into calls of the packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.podman.io/storage/pkg/reexec"

	"usandbox/doctor"
	_ "usandbox/nsexec" // installs the pre-Go-runtime namespace entry
)

// exitError carries an exit status other than 125 out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Docker's exit statuses for failures of the tool itself.
const (
	exitFailed = 125
)

func main() {
	// containers/storage re-executes this binary for helpers (untar in a
	// chroot): those roles return here.
	if reexec.Init() {
		return
	}
	if len(os.Args) > 1 && os.Args[1] == doctor.ProbeArg {
		os.Exit(doctor.ProbeMain(os.Args[2:]))
	}
	os.Exit(run(os.Args))
}

func run(args []string) int {
	err := newApp().Run(context.Background(), args)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	printError(err)
	return exitFailed
}

// printError prints err as the one line a user sees.
func printError(err error) {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	fmt.Fprintln(os.Stderr, "Error: "+msg)
}

func warn(msg string) {
	fmt.Fprintln(os.Stderr, "WARN: "+msg)
}
