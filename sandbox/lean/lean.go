// Package lean turns a detached sandbox's monitor into a small C loop
// once the sandbox runs (see lean.c): it execs this binary again with
// _USANDBOX_LEAN set, and a C constructor takes over before the Go runtime
// starts. The monitor runs on the host, outside the sandbox's namespaces.
// (The sandbox's init is C from the start: package nsexec.) Importing the
// package installs the constructor.
package lean

// #cgo CFLAGS: -Wall -O2
import "C"

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// EnvName selects the lean mode.
const EnvName = "_USANDBOX_LEAN"

// keep clears close-on-exec so that fd survives the exec.
func keep(fds ...int) error {
	for _, fd := range fds {
		if fd < 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("lean: %w", err)
		}
	}
	return nil
}

// Monitor replaces the calling monitor with the C log-and-wait loop: init
// is the init's pid and keeper the keeper's (both our children), out and
// errOut the command's output (-1 if unused), log the log file (in the
// working directory, ctr.log), max its cap. env goes to the finish step
// (see Finish). The fds in keepFDs stay open: they hold the sandbox's lock
// and lifeline until the end. It returns only on failure.
func Monitor(init, keeper, out, errOut, log int, max int64, env []string, keepFDs ...int) error {
	if err := keep(append(keepFDs, out, errOut, log)...); err != nil {
		return err
	}
	env = append(env, fmt.Sprintf("%s=monitor,%d,%d,%d,%d,%d,%d", EnvName, init, keeper, out, errOut, log, max))
	return syscall.Exec("/proc/self/exe", []string{"usandbox-monitor"}, env)
}

// FinishCode is the init's exit status handed to the finish step (its
// first argument).
func FinishCode(args []string) (int, error) {
	if len(args) < 1 {
		return 0, fmt.Errorf("lean: no exit status")
	}
	var code int
	if _, err := fmt.Sscan(args[0], &code); err != nil {
		return 0, fmt.Errorf("lean: %w", err)
	}
	return code, nil
}
