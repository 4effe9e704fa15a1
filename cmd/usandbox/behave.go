package main

import (
	"errors"
	"os"

	"golang.org/x/term"
)

// errNotTTY is docker's refusal of -it when stdin is no terminal: the
// command would get a terminal that nothing types into. podman only
// warns; docker's refusal saves a script from hanging on a shell prompt.
var errNotTTY = errors.New("the input device is not a TTY: run without -t (or -i), or from a terminal")

// checkTTY refuses -i with -t when stdin is not a terminal.
func checkTTY(interactive, tty bool) error {
	if interactive && tty && !term.IsTerminal(int(os.Stdin.Fd())) {
		return errNotTTY
	}
	return nil
}
