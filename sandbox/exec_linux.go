package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/sigproxy"
	"usandbox/internal/wire"
	"usandbox/network"
	"usandbox/network/bypass"
	"usandbox/nsexec"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
	"usandbox/userns"
)

// ExecOptions is a command to run in a running sandbox.
type ExecOptions struct {
	// Paths are the store's (for the compiled seccomp filters' cache).
	Paths   index.Paths
	Args    []string
	Env     []string
	User    string // "" keeps the sandbox's
	Workdir string // "" keeps the sandbox's
	TTY     bool
	// Streams: with NoSigProxy the signals this process receives are
	// not passed on (the API service's: they are the service's own).
	Streams
	// Resize, with TTY, gives the command's pty every size sent on it
	// (the API's resize of an exec, whose client's terminal is not
	// ours to follow); a size sent before the pty exists waits in the
	// channel's buffer.
	Resize <-chan WindowSize
	// Started, when set, is told the command's host pid once its
	// process is made (the API's exec inspect shows it).
	Started func(pid int)
	// Output, when set, receives stdout and stderr both instead of
	// Streams, and signals to this process are not passed on: a command
	// run in the background (a health check).
	Output io.Writer
	// Timeout, when positive, kills the command after it (the error is
	// then ErrExecTimeout).
	Timeout time.Duration
}

// ErrExecTimeout: the command ran past ExecOptions.Timeout and was killed.
var ErrExecTimeout = errors.New("timed out")

// Exec runs a command in the running sandbox sb, in every one of its
// namespaces (entered in C before the Go runtime starts: a multithreaded
// process cannot enter a user or mount namespace), with the sandbox's
// hardening, and returns its exit status. No ID map is written: the
// sandbox's user namespace is ours already, which is why exec is cheap.
func Exec(sb *Sandbox, o ExecOptions) (int, error) {
	if !sb.State.Running || sb.State.Pid <= 0 {
		return 0, fmt.Errorf("%w: %s: start it first (usandbox start)", ErrNotRunning, ShortID(sb.ID))
	}
	// The namespaces are joined through the sandbox's keeper, which has
	// them all (its pid_for_children is the sandbox's pid namespace) and
	// which no process of the sandbox can reach; the init is not dumpable,
	// so its own /proc/PID/ns are closed to us as well. A pidfd pins the
	// keeper: its pid cannot be recycled under us.
	join, pidns, err := keeperNamespaces(sb)
	if err != nil {
		return 0, err
	}
	defer join.Close()
	defer pidns.Close()
	var cgroupFD *os.File
	if b, err := os.ReadFile(filepath.Join(sb.Dir, cgroupFile)); err == nil && len(b) > 0 {
		// The exec'd command counts against the sandbox's limits.
		cg := &cgroupv2.Cgroup{Dir: strings.TrimSpace(string(b))}
		if cgroupFD, err = os.OpenFile(cg.Leaf(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return 0, fmt.Errorf("%w: %s (its cgroup: %v)", ErrNotRunning, ShortID(sb.ID), err)
		}
		defer cgroupFD.Close()
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
	prog, err := seccompFor(o.Paths, sb, &s)
	if err != nil {
		return 0, err
	}
	s.Seccomp = prog
	if o.TTY {
		if cols, rows, ok := terminalSize(o.Stdin); ok {
			s.Process.Cols, s.Process.Rows = cols, rows
		}
		// A size given before the start is the pty's first.
		select {
		case ws := <-o.Resize:
			s.Process.Cols, s.Process.Rows = ws.Cols, ws.Rows
		default:
		}
	}
	flags := namespaces(&s)
	var in io.Reader
	if o.Interactive && !o.TTY {
		in = o.Stdin
	}
	var out, errOut io.Writer = o.Stdout, o.Stderr
	if o.Output != nil {
		out, errOut = o.Output, o.Output
	}
	if o.TTY {
		out, errOut = nil, nil // the pty carries everything
	}
	stdio, err := newRelay(in, out, errOut)
	if err != nil {
		return 0, err
	}
	defer stdio.closeChildEnds()
	// A command in the background is not the caller's: the caller's
	// signals are not for it.
	var sigs *sigproxy.Proxy
	if o.Output == nil && !o.NoSigProxy {
		sigs = sigproxy.Listen().Except(unix.SIGWINCH)
		defer sigs.Stop()
	}

	child, err := nsexec.Start(nsexec.Config{
		Role:  role.Exec,
		Args:  []string{"usandbox-exec", ShortID(sb.ID)},
		Flags: flags,
		Join:  join, JoinPidNS: pidns, CgroupFD: cgroupFD,
		Stdin: stdio.in, Stdout: stdio.out, Stderr: stdio.err,
	})
	stdio.closeChildEnds()
	if err != nil {
		return 0, fmt.Errorf("entering sandbox %s: %w", ShortID(sb.ID), err)
	}
	if o.Started != nil {
		o.Started(child.Pid)
	}
	if err := wire.Send(child.Conn, s); err != nil {
		child.Signal(unix.SIGKILL)
		child.Wait()
		return 0, err
	}
	var tty *ptyRelay
	var execErr *ExitError
	var bp *bypass.Handler
	defer func() { bp.Close() }()
	for {
		var m proto.SetupMessage
		fds, err := wire.Recv(child.Conn, &m)
		if err != nil {
			break // the command runs: its exec closed the socket
		}
		switch m.Kind {
		case proto.KindPTY:
			if len(fds) == 1 {
				master := os.NewFile(uintptr(fds[0]), "pty-master")
				if tty, err = relayPTY(master, o.Streams, o.Stdout); err != nil {
					child.Signal(unix.SIGKILL)
					execErr = &ExitError{Code: 125, Msg: err.Error()}
				} else if o.Resize != nil {
					tty.followResize(o.Resize)
				}
			}
		case proto.KindBypass:
			// The command's connect, bind and listen, answered while
			// it runs (what it leaves running meets ENOSYS after).
			if len(fds) == 1 {
				var cfg spec.NetConfig
				if s.Net != nil {
					cfg = *s.Net
				}
				if cfg.IP == "" && sb.Network.CIDR != nil {
					// Not recorded: the address the drivers give.
					cfg.IP = sb.Network.Addr(100).String()
				}
				pol := network.BypassPolicy(sb.Network, cfg, sb.Ports)
				if bp, err = bypass.Serve(os.NewFile(uintptr(fds[0]), "seccomp-listener"), pol, nil, debugLog()); err != nil {
					child.Signal(unix.SIGKILL)
					execErr = &ExitError{Code: 125, Msg: err.Error()}
				}
			}
		case proto.KindSetupError:
			execErr = &ExitError{Code: m.Code, Msg: m.Msg}
		}
	}
	var timedOut atomic.Bool
	if o.Timeout > 0 {
		t := time.AfterFunc(o.Timeout, func() {
			timedOut.Store(true)
			child.Signal(unix.SIGKILL)
		})
		defer t.Stop()
	}
	if sigs != nil {
		sigs.Forward(child.Signal)
	}
	st, err := child.Wait()
	if sigs != nil {
		sigs.Stop()
	}
	stdio.wait()
	if err := tty.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "usandbox: %v\n", err)
	}
	if err != nil {
		return 0, err
	}
	if execErr != nil {
		return 0, execErr
	}
	if timedOut.Load() {
		return userns.ExitStatus(st), ErrExecTimeout
	}
	return userns.ExitStatus(st), nil
}

// keeperNamespaces opens a pidfd of a running sandbox's keeper and its
// pid_for_children (the sandbox's pid namespace), checking after the open
// that the keeper is still the one the record names and is alive.
func keeperNamespaces(sb *Sandbox) (join, pidns *os.File, err error) {
	notRunning := fmt.Errorf("%w: %s", ErrNotRunning, ShortID(sb.ID))
	if sb.State.KeeperPid <= 0 {
		return nil, nil, notRunning
	}
	fd, err := unix.PidfdOpen(sb.State.KeeperPid, 0)
	if err != nil {
		return nil, nil, notRunning
	}
	join = os.NewFile(uintptr(fd), "pidfd")
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/pid_for_children", sb.State.KeeperPid))
	// Alive after the open, and still holding the sandbox's lock: the
	// namespace opened is the sandbox's.
	if err != nil || unix.PidfdSendSignal(fd, 0, nil, 0) != nil || !Locked(sb.Dir) {
		join.Close()
		if ns != nil {
			ns.Close()
		}
		return nil, nil, notRunning
	}
	return join, ns, nil
}
