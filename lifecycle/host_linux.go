package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/wire"
	"usandbox/sandbox"
	"usandbox/storage/index"
	"usandbox/userns"
	"usandbox/volume"
)

// osHost is the Host of this machine.
type osHost struct {
	plan func() (*userns.Plan, error)
}

func (h *osHost) Run(p index.Paths, sb *Sandbox, s Streams) (int, error) {
	plan, err := h.plan()
	if err != nil {
		return 0, err
	}
	sio := sandbox.IO{Streams: s}
	if sb.Logged() && !sb.AutoRemove {
		// podman logs attached runs too: `logs NAME` shows them after.
		if sio.Record, err = sandbox.NewLogWriter(filepath.Join(sb.Dir, sandbox.LogFile), sb.LogMax()); err != nil {
			return 0, err
		}
		defer sio.Record.Close()
	}
	return sandbox.Start(p, sb, plan, sio)
}

func (*osHost) Exec(p index.Paths, sb *Sandbox, o ExecOptions) (int, error) {
	return sandbox.Exec(sb, sandbox.ExecOptions{
		Paths: p, Args: o.Args, Env: o.Env, User: o.User, Workdir: o.Workdir, TTY: o.TTY, Streams: o.Streams,
		Resize: o.Resize, Started: o.Started, Output: o.Output, Timeout: o.Timeout,
	})
}

func (*osHost) KillAll(sb *Sandbox) { sb.KillCgroup() }

func (*osHost) Signal(sb *Sandbox, sig Signal) error {
	// A pidfd pins the process: the pid cannot be recycled under us.
	fd, err := unix.PidfdOpen(sb.State.Pid, 0)
	if err != nil {
		return notRunning(sb)
	}
	defer unix.Close(fd)
	// The pid is the sandbox's init only while the sandbox's lock is held.
	if !sandbox.Locked(sb.Dir) {
		return notRunning(sb)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && err != unix.ESRCH {
		return fmt.Errorf("signalling %s: %w", sandbox.ShortID(sb.ID), err)
	}
	return nil
}

// RemoveDir deletes a sandbox directory. Its upper layer holds files of
// the sandbox's IDs, which only the user namespace may delete: that part
// runs in a copy of this binary there (role Remove).
func (h *osHost) RemoveDir(dir string) error {
	if os.Geteuid() == 0 {
		return os.RemoveAll(dir)
	}
	plan, err := h.plan()
	if err != nil {
		return err
	}
	code, err := plan.ReexecRole(role.Remove, []string{"usandbox-remove", dir})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("removing %s failed (exit %d)", sandbox.ShortID(filepath.Base(dir)), code)
	}
	return nil
}

// removeMain is role Remove, inside the user namespace: it removes the
// sandbox directories named by args.
func removeMain(args []string) int {
	if _, inside := userns.InNamespace(); !inside {
		fmt.Fprintln(os.Stderr, "Error: usandbox-remove runs only inside usandbox's user namespace")
		return exitFailed
	}
	for _, d := range args {
		if filepath.Base(filepath.Dir(d)) != "sandboxes" && !volume.IsVolumeDir(d) {
			fmt.Fprintln(os.Stderr, "Error: not a sandbox directory: "+d)
			return exitFailed
		}
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintln(os.Stderr, "Error: "+err.Error())
			return exitFailed
		}
	}
	return 0
}

// exitFailed is the status of a process of usandbox that failed itself.
const exitFailed = proto.ExitFailed

// A detached sandbox is watched by a monitor: this binary again (role
// Monitor), in its own session, with no terminal. It starts the sandbox,
// writes its output to the log, records how it ended, and is the lifeline
// of the sandbox's init (if the monitor dies, the sandbox does too). Its
// starter and it speak internal/proto's detach protocol.

// Start starts sb under a new monitor and returns once its command runs.
func (*osHost) Start(p index.Paths, sb *Sandbox) error {
	ours, theirs, err := socketPair()
	if err != nil {
		return err
	}
	defer ours.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		theirs.Close()
		return err
	}
	defer devnull.Close()
	self, err := os.Executable()
	if err != nil {
		theirs.Close()
		return err
	}
	req := proto.Detach{Kind: proto.KindDetach, Root: p.Root, RunRoot: p.RunRoot, ID: sb.ID}
	files := []*os.File{theirs}
	if lock := sb.HeldLock(); lock != nil {
		// A new sandbox's lock, taken by Create: the monitor holds it
		// from here on, so it is never free while the sandbox lives.
		req.HeldLock = true
		files = append(files, lock)
	}
	mon := &exec.Cmd{
		Path:       self,
		Args:       []string{"usandbox-monitor"},
		Env:        append(os.Environ(), role.Monitor.EnvEntry()),
		Stdin:      devnull,
		Stdout:     devnull,
		Stderr:     devnull,
		ExtraFiles: files,
		// Its own session: no terminal, no job-control signals.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := mon.Start(); err != nil {
		theirs.Close()
		return fmt.Errorf("starting the monitor: %w", err)
	}
	theirs.Close()
	// The monitor outlives us; whoever inherits it reaps it.
	if err := mon.Process.Release(); err != nil {
		return err
	}
	if err := wire.Send(ours, req); err != nil {
		return fmt.Errorf("talking to the monitor of %s: %w", sandbox.ShortID(sb.ID), err)
	}
	var rep proto.Detached
	if _, err := wire.Recv(ours, &rep); err != nil || rep.Kind != proto.KindDetached {
		return fmt.Errorf("the monitor of %s died before starting it", sandbox.ShortID(sb.ID))
	}
	if rep.Pid > 0 {
		return nil
	}
	if rep.Code == 0 {
		rep.Code = exitFailed
	}
	return &sandbox.ExitError{Code: rep.Code, Msg: rep.Msg}
}

func socketPair() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the monitor: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "monitor"), os.NewFile(uintptr(fds[1]), "monitor"), nil
}

// monitorMain is role Monitor (see osHost.Start).
func monitorMain() int {
	conn := os.NewFile(proto.DetachConnFD, "starter")
	// Not for the sandbox's processes or the network helpers.
	unix.CloseOnExec(proto.DetachConnFD)
	reply := func(r proto.Detached) {
		if conn != nil {
			r.Kind = proto.KindDetached
			// The starter gone, there is nobody to tell.
			_ = wire.Send(conn, r)
			conn.Close()
			conn = nil
		}
	}
	fail := func(code int, err error) int {
		reply(proto.Detached{Code: code, Msg: err.Error()})
		return code
	}
	var req proto.Detach
	if _, err := wire.Recv(conn, &req); err != nil || req.Kind != proto.KindDetach {
		return fail(exitFailed, fmt.Errorf("monitor: reading its request: %v (%q)", err, req.Kind))
	}
	var lock *os.File
	if req.HeldLock {
		// Only the keeper (nsexec passes it on) and this process may
		// hold it.
		unix.CloseOnExec(proto.DetachLockFD)
		lock = os.NewFile(proto.DetachLockFD, "lock")
	}
	p := index.Paths{Root: req.Root, RunRoot: req.RunRoot}
	sb, err := sandbox.Load(p, req.ID)
	if err != nil {
		return fail(exitFailed, err)
	}
	if lock != nil {
		sb.HoldLock(lock)
	}
	plan, err := userns.Detect()
	if err != nil {
		return fail(exitFailed, err)
	}
	// --log-driver none: the output is discarded, by the same loop.
	logPath, logMax := filepath.Join(sb.Dir, sandbox.LogFile), sb.LogMax()
	if !sb.Logged() {
		logPath, logMax = os.DevNull, 0
	}
	log, err := sandbox.NewLogWriter(logPath, logMax)
	if err != nil {
		return fail(exitFailed, err)
	}
	stopHealth := func() {}
	code, err := sandbox.Start(p, sb, plan, sandbox.IO{
		Log: log,
		Started: func(pid int) {
			reply(proto.Detached{Pid: pid})
			if sb.Healthcheck != nil {
				stopHealth = New(p).WatchHealth(sb.ID)
			}
		},
	})
	stopHealth()
	if sb.AutoRemove && conn == nil {
		// It ran (the starter was told), and is gone: its anonymous
		// volumes go with it. Nobody to tell of a failure but stderr.
		if verr := New(p).afterRun(sb, true); verr != nil {
			fmt.Fprintln(os.Stderr, "usandbox monitor:", verr)
		}
	}
	if err != nil {
		var ee *sandbox.ExitError
		if errors.As(err, &ee) {
			return fail(ee.Code, err)
		}
		return fail(exitFailed, err)
	}
	// A Go monitor (a lean one became package lean's loop in Start, and
	// its finish step does this) applies the restart policy.
	if err := New(p).AfterExit(context.Background(), sb.ID, nil); err != nil {
		fmt.Fprintln(os.Stderr, "usandbox monitor: restarting:", err)
	}
	return code
}
