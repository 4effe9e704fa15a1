package main

import (
	"errors"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
)

// Exit statuses are 125 for every failure of usandbox itself, as podman's,
// except where podman 4.3 gives another; those commands map their error
// kinds here.

// rmExit is podman's status of rm: 1 when a sandbox is unknown (first,
// as podman checks that first), 2 when one is running and -f was not
// given (or its record forbids removal otherwise).
func rmExit(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, lifecycle.ErrNotFound):
		return &cliutil.CodeError{Code: 1, Err: err}
	case errors.Is(err, lifecycle.ErrConflict):
		return &cliutil.CodeError{Code: 2, Err: err}
	}
	return err
}

// execExit is podman's status of exec into a sandbox that does not run:
// 255 (its "container state improper").
func execExit(err error) error {
	if errors.Is(err, lifecycle.ErrNotRunning) {
		return &cliutil.CodeError{Code: 255, Err: err}
	}
	return err
}
