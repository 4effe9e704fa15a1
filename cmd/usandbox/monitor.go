package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/internal/cliutil"
	"usandbox/sandbox"
	"usandbox/storage/index"
	"usandbox/userns"
)

// A detached sandbox is watched by a monitor: this binary again, in its
// own session, with no terminal. It starts the sandbox, writes its output
// to the log, records how it ended, and is the lifeline of the sandbox's
// init (if the monitor dies, the sandbox does too). It tells the usandbox
// that started it, over a pipe, "ok" once the command runs, or why not.

const roleMonitor = "monitor"

// startDetached starts the sandbox under a new monitor and returns once
// its command runs.
func startDetached(p index.Paths, sb *sandbox.Sandbox) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return 0, err
	}
	defer devnull.Close()
	self, err := os.Executable()
	if err != nil {
		w.Close()
		return 0, err
	}
	args := []string{"usandbox-monitor", p.Root, p.RunRoot, sb.ID}
	files := []*os.File{w}
	if lock := sb.HeldLock(); lock != nil {
		// A new sandbox's lock, taken by Create: the monitor holds it
		// from here on, so it is never free while the sandbox lives.
		args = append(args, monitorHeldLock)
		files = append(files, lock)
	}
	mon := &exec.Cmd{
		Path:       self,
		Args:       args,
		Env:        append(os.Environ(), roleName+"="+roleMonitor),
		Stdin:      devnull,
		Stdout:     devnull,
		Stderr:     devnull,
		ExtraFiles: files,
		// Its own session: no terminal, no job-control signals.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := mon.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("starting the monitor: %w", err)
	}
	w.Close()
	// The monitor outlives us; whoever inherits it reaps it.
	mon.Process.Release()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("the monitor of %s died before starting it", sandbox.ShortID(sb.ID))
	}
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch verb {
	case "ok":
		pid, _ := strconv.Atoi(rest)
		return pid, nil
	case "err":
		codeStr, msg, _ := strings.Cut(rest, " ")
		code, _ := strconv.Atoi(codeStr)
		if code == 0 {
			code = cliutil.ExitFailed
		}
		return 0, &sandbox.ExitError{Code: code, Msg: msg}
	}
	return 0, fmt.Errorf("the monitor said %q", line)
}

// monitorHeldLock, after the monitor's arguments, says that fd 4 is the
// sandbox's lock, taken.
const monitorHeldLock = "held-lock"

// monitorMain is the monitor process: args are ROOT RUNROOT ID
// [monitorHeldLock]; fd 3 is the report pipe.
func monitorMain(args []string) int {
	report := os.NewFile(3, "report")
	say := func(s string) {
		if report != nil {
			fmt.Fprintln(report, s)
			report.Close()
			report = nil
		}
	}
	fail := func(code int, err error) int {
		say(fmt.Sprintf("err %d %s", code, strings.ReplaceAll(err.Error(), "\n", "; ")))
		return code
	}
	var lock *os.File
	if len(args) == 4 && args[3] == monitorHeldLock {
		// Not for the network helpers: only the keeper (nsexec passes
		// it) and this process may hold it.
		unix.CloseOnExec(4)
		lock, args = os.NewFile(4, "lock"), args[:3]
	}
	if len(args) != 3 {
		return fail(cliutil.ExitFailed, errors.New("monitor: bad arguments"))
	}
	p := index.Paths{Root: args[0], RunRoot: args[1]}
	sb, err := sandbox.Load(p, args[2])
	if err != nil {
		return fail(cliutil.ExitFailed, err)
	}
	if lock != nil {
		sb.HoldLock(lock)
	}
	plan, err := userns.Detect()
	if err != nil {
		return fail(cliutil.ExitFailed, err)
	}
	log, err := sandbox.NewLogWriter(filepath.Join(sb.Dir, sandbox.LogFile), sandbox.DefaultLogMax)
	if err != nil {
		return fail(cliutil.ExitFailed, err)
	}
	code, err := sandbox.Start(p, sb, plan, sandbox.IO{
		Log:     log,
		Started: func(pid int) { say("ok " + strconv.Itoa(pid)) },
	})
	if err != nil {
		var ee *sandbox.ExitError
		if errors.As(err, &ee) {
			return fail(ee.Code, err)
		}
		return fail(cliutil.ExitFailed, err)
	}
	return code
}
