package inner

import (
	"os"
	"runtime"

	"usandbox/internal/wire"
	"usandbox/sandbox/spec"
)

// ExecMain runs in a process that nsexec put in a running sandbox's
// namespaces (joined through a pidfd of the sandbox's init; root and
// working directory: the sandbox's root). It applies the sandbox's
// hardening and replaces itself with the command, so the command is the
// process usandbox exec waits for. conn is the socket to usandbox exec;
// it closes by itself on a successful exec.
func ExecMain(conn *os.File) int {
	// Capabilities, no_new_privs, seccomp and the exec share one thread.
	runtime.LockOSThread()
	var s spec.Spec
	if _, err := wire.Recv(conn, &s); err != nil {
		// usandbox exec is gone: nobody to report to.
		return 125
	}
	err := checkNotDumpable()
	if err == nil {
		err = closeInherited(int(conn.Fd()))
	}
	if err == nil {
		err = execCommand(&s, conn, false)
	}
	return report(conn, err)
}
