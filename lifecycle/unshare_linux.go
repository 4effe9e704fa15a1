package lifecycle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"usandbox/sandbox"
	"usandbox/userns"
)

// Environment of a command run by Unshare, as podman's unshare sets
// CONTAINERS_GRAPHROOT and CONTAINERS_RUNROOT: where the store is.
const (
	EnvRoot    = "USANDBOX_ROOT"
	EnvRunRoot = "USANDBOX_RUNROOT"
)

// Unshare runs args (default: $SHELL) in the user namespace that owns the
// store, mapped as every sandbox's IDs are relative to (your uid is root,
// your sub-IDs follow), so that files of your sub-IDs can be changed or
// removed (usandbox unshare rm -rf DIR). Outside that namespace, this
// command line runs again inside it (it replaces itself with args there),
// and the command's exit status comes back; a command that cannot be found
// or run is a *sandbox.ExitError with podman's 127 or 126.
func (e *Engine) Unshare(args []string) (int, error) {
	if len(args) == 0 {
		shell, ok := os.LookupEnv("SHELL")
		if !ok || shell == "" {
			return 0, as(ErrInvalid, errors.New("no command specified and no $SHELL specified"))
		}
		args = []string{shell}
	}
	if _, inside := userns.InNamespace(); !inside {
		if os.Geteuid() == 0 {
			return 0, as(ErrInvalid, errors.New("please use unshare with rootless"))
		}
		plan, err := e.plan()
		if err != nil {
			return 0, classify(err)
		}
		if plan.Warning != "" && e.Warn != nil {
			e.Warn(plan.Warning)
		}
		return plan.Reexec()
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return 0, execFailure(err)
	}
	env := append(os.Environ(), EnvRoot+"="+e.paths.Root, EnvRunRoot+"="+e.paths.RunRoot)
	err = unix.Exec(path, args, env)
	return 0, execFailure(fmt.Errorf("exec %s: %w", path, err))
}

// execFailure is podman's status for a command that could not be run:
// 127 not found, 126 found but not runnable.
func execFailure(err error) error {
	code := 126
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = 127
	}
	return &sandbox.ExitError{Code: code, Msg: err.Error()}
}
