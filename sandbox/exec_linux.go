package sandbox

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"usandbox/nsexec"
	"usandbox/sandbox/spec"
	"usandbox/userns"
)

// ExecRoleEnv marks the process started by Exec.
const ExecRoleEnv = "_USANDBOX_ROLE=exec"

// ExecOptions is a command to run in a running sandbox.
type ExecOptions struct {
	Args        []string
	Env         []string
	User        string // "" keeps the sandbox's
	Workdir     string // "" keeps the sandbox's
	TTY         bool
	Interactive bool
	Stdin       *os.File
	Stdout      *os.File
	Stderr      *os.File
}

// Exec runs a command in the running sandbox sb, in every one of its
// namespaces (entered in C before the Go runtime starts: a multithreaded
// process cannot enter a user or mount namespace), with the sandbox's
// hardening, and returns its exit status. No ID map is written: the
// sandbox's user namespace is ours already, which is why exec is cheap.
func Exec(sb *Sandbox, o ExecOptions) (int, error) {
	if !sb.State.Running || sb.State.Pid <= 0 {
		return 0, fmt.Errorf("%w: %s: start it first (usandbox start)", ErrNotRunning, ShortID(sb.ID))
	}
	pidfd, err := unix.PidfdOpen(sb.State.Pid, 0)
	if err != nil || !Locked(sb.Dir) {
		return 0, fmt.Errorf("%w: %s", ErrNotRunning, ShortID(sb.ID))
	}
	defer unix.Close(pidfd)
	// The init is non-dumpable, so its /proc/PID/ns cannot be opened; the
	// command's can (its memory belongs to the sandbox's user namespace,
	// which we own). While the init lives, so does its first child.
	join, err := firstChild(sb.State.Pid)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", ErrNotRunning, ShortID(sb.ID))
	}

	s := sb.Spec
	s.Process.Args = o.Args
	s.Process.Env = MergeEnv(s.Process.Env, o.Env)
	s.Process.Terminal = o.TTY
	if o.User != "" {
		s.Process.User = o.User
	}
	if o.Workdir != "" {
		s.Process.Cwd = o.Workdir
	}
	stdinFD := int(o.Stdin.Fd())
	if o.TTY && term.IsTerminal(stdinFD) {
		if w, h, err := term.GetSize(stdinFD); err == nil {
			s.Process.Cols, s.Process.Rows = uint16(w), uint16(h)
		}
	}
	flags := namespaces(&s)
	stdin := o.Stdin
	if !o.Interactive {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return 0, err
		}
		defer devnull.Close()
		stdin = devnull
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, userns.ForwardedSignals...)
	defer signal.Stop(sigs)

	child, err := nsexec.Start(nsexec.Config{
		Args:  []string{"usandbox-exec", ShortID(sb.ID)},
		Env:   []string{ExecRoleEnv},
		Flags: flags,
		Fork:  true,
		Join:  join,
		Stdin: stdin, Stdout: o.Stdout, Stderr: o.Stderr,
	})
	if err != nil {
		return 0, fmt.Errorf("entering sandbox %s: %w", ShortID(sb.ID), err)
	}
	if err := spec.Send(child.Conn, s); err != nil {
		child.Signal(unix.SIGKILL)
		child.Wait()
		return 0, err
	}
	var relay sync.WaitGroup
	var termState *term.State
	var execErr *ExitError
	for {
		var m spec.Message
		fds, err := spec.Recv(child.Conn, &m)
		if err != nil {
			break // the command runs: its exec closed the socket
		}
		switch m.Kind {
		case spec.KindPTY:
			if len(fds) == 1 {
				master := os.NewFile(uintptr(fds[0]), "pty-master")
				if term.IsTerminal(stdinFD) {
					termState, _ = term.MakeRaw(stdinFD)
				}
				relayPTY(master, stdin, o.Stdout, o.Interactive, &relay)
				go resizeOnWinch(master, stdinFD)
			}
		case spec.KindError:
			execErr = &ExitError{Code: m.Code, Msg: m.Msg}
		}
	}
	stopForwarding := forwardSignals(sigs, child)
	st, err := child.Wait()
	stopForwarding()
	relay.Wait()
	if termState != nil {
		term.Restore(stdinFD, termState)
	}
	if err != nil {
		return 0, err
	}
	if execErr != nil {
		return 0, execErr
	}
	return userns.ExitStatus(st), nil
}

// firstChild is the oldest child of pid.
func firstChild(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("no process in the sandbox")
	}
	return strconv.Atoi(f[0])
}
