// Package nsexec starts a copy of the running binary inside new namespaces,
// with the user namespace created and mapped before the Go runtime of the
// copy starts (see nsexec.c for why that cannot happen in Go).
//
// The parent calls Start; the copy finds the sync socket with Conn. Linking
// this package is enough to install the C constructor, so every binary that
// may be started this way must import it.
package nsexec

// #cgo CFLAGS: -Wall -O2
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Keep in sync with nsexec.h.
const (
	envName  = "_USANDBOX_NSEXEC"
	childEnv = "_USANDBOX_NSEXEC_CHILD"
	// ConnFD is the file descriptor of the sync socket in the child.
	ConnFD = 3

	msgMapMe    = 'U'
	msgMapped   = 'M'
	msgAbort    = 'X'
	msgChildPID = 'P'
	msgError    = 'E'
)

var stepNames = map[byte]string{
	'd': "setting the parent-death signal",
	'u': "creating the user namespace",
	'i': "becoming root in the user namespace",
	'n': "creating namespaces",
	'f': "forking into the new pid namespace",
	'j': "joining the sandbox's namespaces",
	's': "starting the sandbox's init",
}

// Modes of the C stage (keep in sync with nsexec.h).
const (
	modePlain   = 0
	modeFork    = 1
	modeSandbox = 2
)

// Config says what to start.
type Config struct {
	// Args are the arguments of the copy, Args[0] included.
	Args []string
	// Env is its environment (the sync variable is added).
	Env []string
	// Flags are the CLONE_NEW* namespaces to create (or join). CLONE_NEWUSER
	// is created first and mapped by MapIDs before the others.
	Flags uintptr
	// Fork makes the copy fork once more after unsharing or joining, so
	// that the process running Go is in the new (or joined) pid namespace
	// and a direct child of the caller.
	Fork bool
	// Sandbox starts a new sandbox (see nsexec.c): the copy stays as its
	// keeper, a C init becomes pid 1 of the new pid namespace (the
	// caller's child, Pid), and Go runs in the init's first child, the
	// setup process. Flags must hold CLONE_NEWUSER and CLONE_NEWPID.
	Sandbox *SandboxConfig
	// MapIDs writes the uid/gid maps of the process pid.
	MapIDs func(pid int) error
	// Join, when set, is a pidfd of a running process whose namespaces
	// (Flags) are entered, all at once, instead of new ones created: a
	// sandbox's keeper. JoinPidNS is then the pid namespace to enter
	// (the keeper's pid_for_children), when Flags has CLONE_NEWPID; a
	// CLONE_NEWCGROUP in Flags makes a new cgroup namespace after the
	// others (start the process in the sandbox's cgroup: CgroupFD).
	Join, JoinPidNS *os.File
	// CgroupFD, when set, is a cgroup directory the copy starts in.
	CgroupFD *os.File

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ExtraFiles are passed after the sync socket (fd 3) and the files the
	// C stage uses; ExtraFD says where each landed.
	ExtraFiles []*os.File
}

// SandboxConfig is what the keeper and the init of a new sandbox use.
type SandboxConfig struct {
	// Lifeline is the read end of a pipe whose write end the caller keeps:
	// the init goes on when it reads LifelineGo, and ends the sandbox when
	// the pipe closes.
	Lifeline *os.File
	// State is the sandbox's directory (O_PATH), for the keeper; nil if
	// it has nothing to remove.
	State *os.File
	// Lock is held by the keeper until the sandbox ended and its writable
	// layer is gone (AutoRemove).
	Lock *os.File
	// AutoRemove: the keeper removes State's upper/ and work/ once every
	// process of the sandbox is dead.
	AutoRemove bool
}

// LifelineGo is the byte that lets a sandbox's init go on.
const LifelineGo = 'g'

// Child is a started copy.
type Child struct {
	// Pid is the host pid of the process that runs Go in the namespaces.
	Pid int
	// Conn is the parent's end of the sync socket, for the caller's own
	// protocol once the copy runs Go.
	Conn *os.File

	cmd    *exec.Cmd   // the exec'd process (the keeper in Sandbox mode)
	proc   *os.Process // Pid's process when Fork or Sandbox, else nil
	keeper bool        // cmd is a keeper still running
}

// StepError is a failure of the C stage in the child.
type StepError struct {
	Step  string
	Errno syscall.Errno
}

func (e *StepError) Error() string { return e.Step + ": " + e.Errno.Error() }
func (e *StepError) Unwrap() error { return e.Errno }

// Start starts the copy and returns once it runs Go code in its
// namespaces. The calling goroutine is locked to its OS thread until Wait
// returns: the child's parent-death signal fires when the thread that
// started it exits (golang/go#27505), not when the process does.
func Start(cfg Config) (c *Child, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("nsexec: socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "nsexec-parent")
	child := os.NewFile(uintptr(fds[1]), "nsexec-child")
	defer child.Close()
	defer func() {
		if err != nil {
			parent.Close()
		}
	}()

	files := []*os.File{child}
	fdOf := func(f *os.File) int {
		if f == nil {
			return -1
		}
		files = append(files, f)
		return ConnFD + len(files) - 1
	}
	mode, lifeline, state, autoremove := modePlain, -1, -1, 0
	if cfg.Fork {
		mode = modeFork
	}
	if sb := cfg.Sandbox; sb != nil {
		mode = modeSandbox
		lifeline = fdOf(sb.Lifeline)
		state = fdOf(sb.State)
		fdOf(sb.Lock)
		if sb.AutoRemove {
			autoremove = 1
		}
	}
	join, joinPidNS := fdOf(cfg.Join), fdOf(cfg.JoinPidNS)
	files = append(files, cfg.ExtraFiles...)

	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: cfg.Args,
		Env: append(cfg.Env[:len(cfg.Env):len(cfg.Env)], childEnv+"=1",
			fmt.Sprintf("%s=%d,%x,%d,%d,%d,%d,%d,%d,%d", envName, ConnFD, cfg.Flags, mode, os.Getpid(), join, joinPidNS, lifeline, state, autoremove)),
		Stdin:      cfg.Stdin,
		Stdout:     cfg.Stdout,
		Stderr:     cfg.Stderr,
		ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if cfg.CgroupFD != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(cfg.CgroupFD.Fd())
	}
	runtime.LockOSThread()
	if err := cmd.Start(); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("nsexec: starting %s: %w", cfg.Args[0], err)
	}
	child.Close()
	c = &Child{Pid: cmd.Process.Pid, Conn: parent, cmd: cmd}
	started := c
	defer func() {
		if err != nil {
			if started.proc != nil {
				started.proc.Kill()
				started.proc.Wait()
			}
			cmd.Process.Kill()
			cmd.Wait()
			runtime.UnlockOSThread()
		}
	}()

	if cfg.Flags&unix.CLONE_NEWUSER != 0 && cfg.Join == nil {
		kind, _, v, err := c.read()
		if err != nil {
			return nil, err
		}
		if kind != msgMapMe {
			return nil, fmt.Errorf("nsexec: unexpected message %q", kind)
		}
		if err := cfg.MapIDs(int(v)); err != nil {
			c.send(msgAbort)
			return nil, err
		}
		if err := c.send(msgMapped); err != nil {
			return nil, fmt.Errorf("nsexec: %w", err)
		}
	}
	if cfg.Fork || cfg.Sandbox != nil {
		kind, _, v, err := c.read()
		if err != nil {
			return nil, err
		}
		if kind != msgChildPID {
			return nil, fmt.Errorf("nsexec: unexpected message %q", kind)
		}
		p, err := os.FindProcess(int(v))
		if err != nil {
			return nil, fmt.Errorf("nsexec: %w", err)
		}
		c.Pid, c.proc = int(v), p
		if cfg.Sandbox != nil {
			// The keeper stays until the sandbox has ended.
			c.keeper = true
		} else if err := cmd.Wait(); err != nil {
			// The intermediate process exits at once; its status says
			// nothing.
			return nil, fmt.Errorf("nsexec: intermediate process: %w", err)
		}
	}
	return c, nil
}

// KeeperPid is the pid of a sandbox's keeper (Sandbox mode).
func (c *Child) KeeperPid() int { return c.cmd.Process.Pid }

// WaitKeeper waits for a sandbox's keeper, which exits once the sandbox
// has ended and its writable layer is removed (AutoRemove); an error says
// that the removal failed.
func (c *Child) WaitKeeper() error {
	if !c.keeper {
		return nil
	}
	c.keeper = false
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("the sandbox's keeper: %w", err)
	}
	return nil
}

// read reads one C-stage message; an error message becomes a *StepError.
func (c *Child) read() (kind, step byte, value int32, err error) {
	var b [8]byte
	if _, err := io.ReadFull(c.Conn, b[:]); err != nil {
		// The child died before saying why: its exit status is all we have.
		if c.cmd.ProcessState == nil {
			c.cmd.Wait()
		}
		return 0, 0, 0, fmt.Errorf("nsexec: child exited during namespace setup (%v)", c.cmd.ProcessState)
	}
	kind, step, value = b[0], b[1], int32(binary.NativeEndian.Uint32(b[4:]))
	if kind == msgError {
		name := stepNames[step]
		if name == "" {
			name = "step " + strconv.Itoa(int(step))
		}
		return 0, 0, 0, &StepError{Step: name, Errno: syscall.Errno(value)}
	}
	return kind, step, value, nil
}

func (c *Child) send(kind byte) error {
	var b [8]byte
	b[0] = kind
	_, err := c.Conn.Write(b[:])
	return err
}

// Signal sends sig to the process running Go in the namespaces.
func (c *Child) Signal(sig os.Signal) error {
	if c.proc != nil {
		return c.proc.Signal(sig)
	}
	return c.cmd.Process.Signal(sig)
}

// Wait waits for the process running Go in the namespaces and releases the
// thread lock taken by Start.
func (c *Child) Wait() (*os.ProcessState, error) {
	defer runtime.UnlockOSThread()
	defer c.Conn.Close()
	if c.proc != nil {
		return c.proc.Wait()
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil
	}
	return c.cmd.ProcessState, err
}

// Conn returns the sync socket in a copy started by Start, and whether this
// process is such a copy.
func Conn() (*os.File, bool) {
	if os.Getenv(envName) != "" {
		// The constructor did not run: the binary was built without cgo.
		panic("nsexec: " + envName + " set but the C constructor did not run (built with CGO_ENABLED=0?)")
	}
	if os.Getenv(childEnv) == "" {
		return nil, false
	}
	os.Unsetenv(childEnv)
	unix.CloseOnExec(ConnFD)
	return os.NewFile(ConnFD, "nsexec"), true
}
