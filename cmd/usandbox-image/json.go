package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/storage"
	"usandbox/storage/index"
)

// jsonFlag is --json: results and failures as index.ToolMessage lines on
// stdout, for package lifecycle (the Docker Engine API's pull, rmi, tag
// and image prune).
var jsonFlag = &cli.BoolFlag{Name: "json", Hidden: true, Usage: "write index.ToolMessage lines on stdout"}

// sendJSON writes one ToolMessage line on stdout.
func sendJSON(m index.ToolMessage) {
	json.NewEncoder(os.Stdout).Encode(m) // lifecycle, reading, sees a missing line as a failure
}

// jsonErrors wraps an action: with --json its failure is also written as
// an error ToolMessage, with its kind. An ExitError is a child's (the
// user namespace's), which wrote its own.
func jsonErrors(action cli.ActionFunc) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
		err := action(ctx, cmd)
		var ee cliutil.ExitError
		if err == nil || !cmd.Bool("json") || errors.As(err, &ee) {
			return err
		}
		m := index.ToolMessage{Kind: index.ToolError, Message: err.Error()}
		switch {
		case errors.Is(err, storage.ErrImageUnknown), errors.Is(err, storage.ErrNoSuchImage):
			m.ErrorKind = index.ToolNotFound
		case errors.Is(err, storage.ErrImageInUse):
			m.ErrorKind = index.ToolConflict
		case errors.Is(err, storage.ErrInvalidName), errors.Is(err, storage.ErrAmbiguous), errors.Is(err, storage.ErrBadReference):
			m.ErrorKind = index.ToolInvalid
		case errors.Is(err, storage.ErrUnauthorized):
			m.ErrorKind = index.ToolUnauthorized
		}
		sendJSON(m)
		return err
	}
}
