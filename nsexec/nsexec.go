// Package nsexec starts a copy of the running binary inside new namespaces,
// with the user namespace created and mapped before the Go runtime of the
// copy starts (see nsexec.c for why that cannot happen in Go).
//
// The parent calls Start; the copy finds the sync socket with Conn. What
// the C constructor does is its role's (package internal/role, through
// proto.StageOf); the two speak package internal/proto's nsexec protocol
// over the socket. Linking this package is enough to install the C
// constructor, so every binary that may be started this way must import
// it.
package nsexec

//go:generate go run ../internal/proto/gen nsexec/proto_gen.h

// #cgo CFLAGS: -Wall -O2
// int usandbox_nsexec_conn(void);
import "C"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/trace"
	"usandbox/internal/wire"
)

// ConnFD is the file descriptor of the sync socket in the child.
const ConnFD = proto.ConnFD

// Config says what to start.
type Config struct {
	// Role is the copy's role, which says what the C stage does
	// (proto.StageOf): run Go in the namespaces (userns, remove,
	// portchild); fork once more after unsharing or joining, so that the
	// process running Go is in the new (or joined) pid namespace and a
	// direct child of the caller (exec); or start a sandbox (sandbox).
	// The copy's Go code finds it with role.Current, but for userns,
	// whose copy is the command line again (see proto.Stage).
	Role role.Role
	// Args are the arguments of the copy, Args[0] included.
	Args []string
	// Binary, when set, is the file the copy runs instead of this
	// binary: one that links this package and runs Role (usandbox-init,
	// the sandbox role alone, whose Go runtime starts faster).
	Binary string
	// Env is its environment (the role is added).
	Env []string
	// Flags are the CLONE_NEW* namespaces to create (or join). CLONE_NEWUSER
	// is created first and mapped by MapIDs before the others.
	Flags uintptr
	// Sandbox is what the sandbox role needs, and only it (see
	// nsexec.c): the copy stays as its keeper, a C init becomes pid 1 of
	// the new pid namespace (the caller's child, Pid), and Go runs in the
	// init's first child, the setup process. Flags must hold
	// CLONE_NEWUSER and CLONE_NEWPID.
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
	// ParentUserNS, when set (Sandbox mode), is a pidfd of a process in
	// whose user namespace the sandbox's is made, mapped from inside it
	// by the identity of its extents (a network's: package
	// network/holder); MapIDs is then not called.
	ParentUserNS *os.File
	// CgroupFD, when set, is a cgroup directory the copy starts in.
	CgroupFD *os.File
	// OOMScoreAdj, when set, is written to the copy's oom_score_adj
	// before anything else (see proto.Config.SetOOM).
	OOMScoreAdj *int

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ExtraFiles are passed after the sync socket (fd 3) and the files the
	// C stage uses (Sandbox's Lifeline, State if AutoRemove, Lock, then
	// Join, JoinPidNS and ParentUserNS, those that are set), in order. A
	// sandbox's keeper and init close them, as every fd they do not use.
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
	// Detach: an OCI container, left to the caller's subreaper: the init
	// outlives the caller once it has LifelineGo, and becomes the setup
	// (and so the container's process, pid 1) instead of forking it.
	Detach bool
	// JoinNS are namespaces (opened /proc/PID/ns/* or bind-mounted
	// namespace files) entered before the new ones are made, a user
	// namespace first; Flags must not hold their types.
	JoinNS []*os.File
	// CloneBinary runs the keeper and the init from a sealed copy of
	// this binary in memory, not from its file: for a sandbox that can
	// see them (an OCI container in its caller's pid namespace, which
	// the keeper is in), their /proc/PID/exe then leads to no file of
	// the host that a process outliving them could reopen for writing
	// (CVE-2019-5736).
	CloneBinary bool
}

// LifelineGo is the byte that lets a sandbox's init go on.
const LifelineGo = proto.LifelineGo

// Child is a started copy.
type Child struct {
	// Pid is the host pid of the process that runs Go in the namespaces.
	Pid int
	// Conn is the parent's end of the sync socket, for the caller's own
	// protocol once the copy runs Go.
	Conn *os.File

	cmd    *exec.Cmd   // the exec'd process (the keeper in Sandbox mode)
	proc   *os.Process // Pid's process in the fork and sandbox modes, else nil
	keeper bool        // cmd is a keeper still running
}

// StepError is a failure of the C stage in the child.
type StepError struct {
	Step  proto.Step
	Errno syscall.Errno
}

func (e *StepError) Error() string { return e.Step.String() + ": " + e.Errno.Error() }
func (e *StepError) Unwrap() error { return e.Errno }

// Start starts the copy and returns once it runs Go code in its
// namespaces. The calling goroutine is locked to its OS thread until Wait
// returns: the child's parent-death signal fires when the thread that
// started it exits (golang/go#27505), not when the process does.
func Start(cfg Config) (c *Child, err error) {
	stage, ok := proto.StageOf(cfg.Role)
	if !ok {
		return nil, fmt.Errorf("nsexec: role %q has no C stage", cfg.Role)
	}
	if cfg.ParentUserNS != nil && stage.Mode != proto.ModeSandbox {
		return nil, fmt.Errorf("nsexec: role %q: ParentUserNS is for the sandbox role", cfg.Role)
	}
	if (stage.Mode == proto.ModeSandbox) != (cfg.Sandbox != nil) {
		return nil, fmt.Errorf("nsexec: role %q: a SandboxConfig goes with the sandbox role, and only with it", cfg.Role)
	}
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
	fdOf := func(f *os.File) int32 {
		if f == nil {
			return -1
		}
		files = append(files, f)
		return int32(ConnFD + len(files) - 1)
	}
	conf := proto.Config{Kind: proto.KindConfig, Flags: uint64(cfg.Flags), PPid: int32(os.Getpid()), Lifeline: -1, RemoveIn: -1, Lock: -1}
	if sb := cfg.Sandbox; sb != nil {
		conf.Lifeline = fdOf(sb.Lifeline)
		if sb.AutoRemove {
			conf.RemoveIn = fdOf(sb.State)
		}
		conf.Lock = fdOf(sb.Lock)
		if sb.Detach {
			conf.Detach = 1
		}
		for i, f := range sb.JoinNS {
			fd := fdOf(f)
			if i == 0 {
				conf.JoinFirst = fd
			}
		}
		conf.JoinCount = int32(len(sb.JoinNS))
	}
	if cfg.OOMScoreAdj != nil {
		conf.SetOOM, conf.OOMScoreAdj = 1, int32(*cfg.OOMScoreAdj)
	}
	conf.Join, conf.JoinPidNS = fdOf(cfg.Join), fdOf(cfg.JoinPidNS)
	conf.ParentUserNS = fdOf(cfg.ParentUserNS)
	files = append(files, cfg.ExtraFiles...)
	path := "/proc/self/exe"
	if cfg.Binary != "" {
		path = cfg.Binary
	}
	if sb := cfg.Sandbox; sb != nil && sb.CloneBinary {
		if cfg.Binary != "" {
			return nil, fmt.Errorf("nsexec: CloneBinary copies this binary: no Binary with it")
		}
		mem, err := sealedSelf()
		if err != nil {
			return nil, fmt.Errorf("nsexec: %w", err)
		}
		defer mem.Close()
		// Executed by its fd in the copy, which closes it (the keeper
		// and the init keep none but their own).
		files = append(files, mem)
		path = fmt.Sprintf("/proc/self/fd/%d", ConnFD+len(files)-1)
	}
	// The configuration is in the socket before the copy starts: its
	// constructor reads it at once.
	if err := wire.Write(parent, conf); err != nil {
		return nil, fmt.Errorf("nsexec: %w", err)
	}

	cmd := &exec.Cmd{
		Path:       path,
		Args:       cfg.Args,
		Env:        append(cfg.Env[:len(cfg.Env):len(cfg.Env)], cfg.Role.EnvEntry()),
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
	trace.Mark("nsexec", "copy started")
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

	if cfg.Flags&unix.CLONE_NEWUSER != 0 && cfg.Join == nil && cfg.ParentUserNS == nil {
		var m proto.MapMe
		if err := c.read(proto.KindMapMe, &m); err != nil {
			return nil, err
		}
		trace.Mark("nsexec", "user namespace made")
		if err := cfg.MapIDs(int(m.Pid)); err != nil {
			// The copy exits on Abort, or when the socket closes.
			wire.Write(c.Conn, proto.Abort{Kind: proto.KindAbort})
			return nil, err
		}
		if err := wire.Write(c.Conn, proto.Mapped{Kind: proto.KindMapped}); err != nil {
			return nil, fmt.Errorf("nsexec: %w", err)
		}
		trace.Mark("nsexec", "IDs mapped")
	}
	var m proto.ChildPID
	if err := c.read(proto.KindChildPID, &m); err != nil {
		return nil, err
	}
	if stage.Mode == proto.ModePlain {
		if int(m.Pid) != cmd.Process.Pid {
			return nil, fmt.Errorf("nsexec: the copy (pid %d) says it is pid %d", cmd.Process.Pid, m.Pid)
		}
	} else {
		p, err := os.FindProcess(int(m.Pid))
		if err != nil {
			return nil, fmt.Errorf("nsexec: %w", err)
		}
		c.Pid, c.proc = int(m.Pid), p
		if stage.Mode == proto.ModeSandbox {
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

// read reads the C stage's next message, of kind want, into v; an Error
// becomes a *StepError.
func (c *Child) read(want proto.Kind, v any) error {
	var raw json.RawMessage
	fds, err := wire.Recv(c.Conn, &raw)
	for _, fd := range fds {
		unix.Close(fd) // the C stage sends none
	}
	if err != nil {
		// The child died before saying why: its exit status is all we have.
		if c.cmd.ProcessState == nil {
			c.cmd.Wait()
		}
		return fmt.Errorf("nsexec: child exited during namespace setup (%v)", c.cmd.ProcessState)
	}
	var head struct {
		Kind proto.Kind `json:"kind"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("nsexec: bad message %q: %w", raw, err)
	}
	if head.Kind == proto.KindError {
		var e proto.Error
		if err := strict(raw, &e); err != nil {
			return err
		}
		return &StepError{Step: e.Step, Errno: syscall.Errno(e.Errno)}
	}
	if head.Kind != want {
		return fmt.Errorf("nsexec: unexpected message %q, want %s", raw, want)
	}
	return strict(raw, v)
}

// strict decodes raw into v, refusing fields that v does not have.
func strict(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("nsexec: bad message %q: %w", raw, err)
	}
	return nil
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
// process is such a copy: whether the C constructor set it up for a role
// whose Go side it is (all but userns, whose copy is the command line
// again; see proto.Stage).
func Conn() (*os.File, bool) {
	if C.usandbox_nsexec_conn() == 0 {
		return nil, false
	}
	unix.CloseOnExec(ConnFD)
	return os.NewFile(ConnFD, "nsexec"), true
}

// Release lets a copy started in ModePlain go on by itself, after it has
// cleared its parent-death signal (a long-lived helper: the network
// holder): the thread lock taken by Start is released and the copy is no
// longer waited for.
func (c *Child) Release() error {
	defer runtime.UnlockOSThread()
	c.Conn.Close()
	return c.cmd.Process.Release()
}

// sealedSelf is a copy of this binary in a memfd sealed against any
// change.
func sealedSelf() (*os.File, error) {
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	// MFD_EXEC says it will be executed (vm.memfd_noexec, Linux 6.3);
	// older kernels refuse the flag.
	fd, err := unix.MemfdCreate("usandbox", flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("usandbox", flags)
	}
	if err != nil {
		return nil, fmt.Errorf("copying the binary into memory: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:usandbox")
	self, err := os.Open("/proc/self/exe")
	if err == nil {
		_, err = io.Copy(mem, self)
		self.Close()
	}
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	}
	if err != nil {
		mem.Close()
		return nil, fmt.Errorf("copying the binary into memory: %w", err)
	}
	return mem, nil
}
