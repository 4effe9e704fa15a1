package lifecycle

import (
	"context"
	"fmt"
	"os"

	"usandbox/doctor"
	"usandbox/internal/role"
	"usandbox/network"
	"usandbox/network/holder"
	"usandbox/nsexec"
	"usandbox/sandbox"
	"usandbox/sandbox/inner"
	"usandbox/sandbox/lean"
)

// RunRole runs this process's role (package internal/role) unless it is
// the command line, and returns its exit status; ok is false for the
// command line, which the caller then runs. It is the one place that
// decides what a process of the usandbox binary is; main calls it first
// and passes the status to os.Exit.
func RunRole() (code int, ok bool) {
	r := role.Current()
	switch r {
	case role.CLI, role.UserNS:
		return 0, false
	case role.Sandbox, role.Exec, role.PortChild, role.NetHolder, role.Copy:
		// Started through nsexec, whose C stage ran before the Go
		// runtime: the sync socket is the way in.
		conn, ok := nsexec.Conn()
		if !ok {
			return roleFailed(r, "not started through nsexec")
		}
		switch r {
		case role.Sandbox:
			return inner.Main(conn), true
		case role.Exec:
			return inner.ExecMain(conn), true
		case role.NetHolder:
			return holder.Main(conn, os.Args[1:]), true
		case role.Copy:
			return inner.CopyMain(conn), true
		}
		return network.PortChildMain(conn), true
	case role.Monitor:
		return monitorMain(), true
	case role.Finish:
		return finishMain(os.Args[1:]), true
	case role.Remove:
		return removeMain(os.Args[1:]), true
	case role.Probe:
		return doctor.ProbeMain(os.Args[1:]), true
	}
	return roleFailed(r, "unknown role")
}

func roleFailed(r role.Role, why string) (int, bool) {
	fmt.Fprintf(os.Stderr, "usandbox: %s=%s: %s\n", role.Env, r, why)
	return exitFailed, true
}

// finishMain is role Finish, the last step of a lean monitor (package
// lean): args[0] is the init's exit status.
func finishMain(args []string) int {
	code, err := lean.FinishCode(args)
	var sb *sandbox.Sandbox
	if err == nil {
		sb, err = sandbox.Finish(code)
	}
	if err == nil && sb.AutoRemove {
		// Gone: its anonymous volumes go with it.
		err = New(sandbox.FinishPaths()).afterRun(sb, true)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "usandbox finish:", err)
		return exitFailed
	}
	// The restart policy: this step is what watched the sandbox last.
	release := func() error { return releaseInherited(sandbox.LockPath(sb.Dir)) }
	if err := New(sandbox.FinishPaths()).AfterExit(context.Background(), sb.ID, release); err != nil {
		fmt.Fprintln(os.Stderr, "usandbox finish: restarting:", err)
	}
	return code
}
