package inner

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
)

// ExecMain runs in a process that nsexec put in a running sandbox's
// namespaces (root and working directory: the sandbox's root). It applies
// the sandbox's hardening and replaces itself with the command, so the
// command is the process usandbox exec waits for. conn is the socket to
// usandbox exec; it closes by itself on a successful exec.
func ExecMain(conn *os.File) int {
	// Capabilities, no_new_privs and the exec must share one thread.
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var s spec.Spec
	if _, err := spec.Recv(conn, &s); err != nil {
		return 125
	}
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	err := execCommand(&s, conn)
	return report(conn, err, -1, &s)
}

func execCommand(s *spec.Spec, conn *os.File) error {
	p := s.Process
	user, err := lookupUser(p.User)
	if err != nil {
		return fail(err)
	}
	env := withDefaults(p.Env, user, p.Terminal)
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fail(fmt.Errorf("working directory %s: %w", cwd, err))
	}
	if len(p.Args) == 0 {
		return fail(fmt.Errorf("no command given"))
	}
	path, err := lookPath(p.Args[0], env, cwd)
	if err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return fail(fmt.Errorf("setsid: %w", err))
	}
	if p.Terminal {
		tty, err := openPTY(p.Rows, p.Cols, conn)
		if err != nil {
			return fail(err)
		}
		if err := unix.IoctlSetInt(int(tty.Fd()), unix.TIOCSCTTY, 0); err != nil {
			return fail(fmt.Errorf("setting the controlling terminal: %w", err))
		}
		for fd := 0; fd < 3; fd++ {
			if err := unix.Dup3(int(tty.Fd()), fd, 0); err != nil {
				return fail(err)
			}
		}
		tty.Close()
	}
	if err := limitCapabilities(s.Capabilities); err != nil {
		return fail(err)
	}
	if s.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail(err)
		}
	}
	// Like docker, the primary group is also a supplementary one.
	if !s.SingleID {
		groups := []int{int(user.GID)}
		for _, g := range user.Groups {
			groups = append(groups, int(g))
		}
		if err := syscall.Setgroups(groups); err != nil {
			return fail(fmt.Errorf("setgroups: %w", err))
		}
	}
	if err := syscall.Setgid(int(user.GID)); err != nil {
		return fail(fmt.Errorf("setgid: %w", err))
	}
	if err := syscall.Setuid(int(user.UID)); err != nil {
		return fail(fmt.Errorf("setuid: %w", err))
	}
	spec.Send(conn, spec.Message{Kind: spec.KindStarted})
	err = syscall.Exec(path, p.Args, env)
	return execError(p.Args[0], err)
}
