package inner

import (
	"os"

	"usandbox/sandbox/spec"
)

// ExecMain runs in a process that nsexec put in a running sandbox's
// namespaces (joined through a pidfd of the sandbox's init; root and
// working directory: the sandbox's root). It applies the sandbox's
// hardening and replaces itself with the command, so the command is the
// process usandbox exec waits for. conn is the socket to usandbox exec;
// it closes by itself on a successful exec.
func ExecMain(conn *os.File) int {
	return serve(conn, func(s *spec.Spec) error {
		err := checkNotDumpable()
		if err == nil {
			err = closeInherited(int(conn.Fd()))
		}
		if err == nil && s.OCI != nil {
			return ociCommand(s, conn, nil, false)
		}
		if err == nil {
			err = execCommand(s, conn, false)
		}
		return err
	})
}
