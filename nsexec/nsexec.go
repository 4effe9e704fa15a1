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
}

// Config says what to start.
type Config struct {
	// Args are the arguments of the copy, Args[0] included.
	Args []string
	// Env is its environment (the sync variable is added).
	Env []string
	// Flags are the CLONE_NEW* namespaces to create. CLONE_NEWUSER is
	// created first and mapped by MapIDs before the others.
	Flags uintptr
	// Fork makes the copy fork once more after unsharing, so that the
	// process running Go is pid 1 of a new pid namespace (CLONE_NEWPID in
	// Flags) and a direct child of the caller.
	Fork bool
	// MapIDs writes the uid/gid maps of the process pid.
	MapIDs func(pid int) error
	// Join, when set, is a running process whose namespaces (Flags) are
	// entered instead of new ones created.
	Join int

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ExtraFiles are passed from fd 4 on (fd 3 is the sync socket).
	ExtraFiles []*os.File
}

// Child is a started copy.
type Child struct {
	// Pid is the host pid of the process that runs Go in the namespaces.
	Pid int
	// Conn is the parent's end of the sync socket, for the caller's own
	// protocol once the copy runs Go.
	Conn *os.File

	cmd  *exec.Cmd   // the exec'd process
	proc *os.Process // Pid's process when Fork, else nil
	done chan struct{}
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

	fork := 0
	if cfg.Fork {
		fork = 1
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: cfg.Args,
		Env: append(cfg.Env[:len(cfg.Env):len(cfg.Env)], childEnv+"=1",
			fmt.Sprintf("%s=%d,%x,%d,%d,%d", envName, ConnFD, cfg.Flags, fork, os.Getpid(), cfg.Join)),
		Stdin:      cfg.Stdin,
		Stdout:     cfg.Stdout,
		Stderr:     cfg.Stderr,
		ExtraFiles: append([]*os.File{child}, cfg.ExtraFiles...),
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGKILL,
		},
	}
	runtime.LockOSThread()
	if err := cmd.Start(); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("nsexec: starting %s: %w", cfg.Args[0], err)
	}
	child.Close()
	c = &Child{Pid: cmd.Process.Pid, Conn: parent, cmd: cmd}
	defer func() {
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			runtime.UnlockOSThread()
		}
	}()

	if cfg.Flags&unix.CLONE_NEWUSER != 0 && cfg.Join == 0 {
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
	if cfg.Fork {
		kind, _, v, err := c.read()
		if err != nil {
			return nil, err
		}
		if kind != msgChildPID {
			return nil, fmt.Errorf("nsexec: unexpected message %q", kind)
		}
		// The intermediate process exits at once; its status says nothing.
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("nsexec: intermediate process: %w", err)
		}
		c.Pid = int(v)
		p, err := os.FindProcess(c.Pid)
		if err != nil {
			return nil, fmt.Errorf("nsexec: %w", err)
		}
		c.proc = p
	}
	return c, nil
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
