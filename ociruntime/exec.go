package ociruntime

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/sigproxy"
	"usandbox/internal/wire"
	"usandbox/nsexec"
)

// ExecOptions are exec's flags besides the process.
type ExecOptions struct {
	Detach        bool
	PidFile       string
	ConsoleSocket string
}

// Exec runs process p in container id: in its namespaces (entered
// through the keeper, which holds them all), its cgroup, under its
// seccomp filter, with p's user, capabilities and limits. Unless detach,
// it waits and returns the process's status.
func (r *Runtime) Exec(id string, p *specs.Process, o ExecOptions) (int, error) {
	rec, err := r.Load(id)
	if err != nil {
		return 0, err
	}
	if st := r.Status(rec); st != "running" && st != "created" {
		return 0, fmt.Errorf("cannot exec in a %s container", st)
	}
	s := rec.Spec
	oci := *s.OCI
	s.OCI = &oci
	oci.Fifo, oci.RuntimeHooks, oci.CreateContainer, oci.StartContainer = "", false, nil, nil
	oci.Detached = o.Detach
	if err := convertProcess(p, &s); err != nil {
		return 0, err
	}
	if p.Terminal && o.ConsoleSocket == "" {
		return 0, errors.New("process.terminal is true: give --console-socket for its pty's master")
	}
	oci.Console = false // the container's /dev/console is its own process's
	if rec.Keeper <= 0 || startTime(rec.Keeper) != rec.KeeperStart {
		return 0, fmt.Errorf("container %s is not running", id)
	}
	kfd, err := unix.PidfdOpen(rec.Keeper, 0)
	if err != nil {
		return 0, fmt.Errorf("container %s is not running", id)
	}
	join := os.NewFile(uintptr(kfd), "pidfd")
	defer join.Close()
	var pidns *os.File
	flags := rec.Flags
	if flags&unix.CLONE_NEWPID != 0 {
		if pidns, err = os.Open(fmt.Sprintf("/proc/%d/ns/pid_for_children", rec.Keeper)); err != nil {
			return 0, fmt.Errorf("container %s: its pid namespace: %w", id, err)
		}
		defer pidns.Close()
	}
	if startTime(rec.Keeper) != rec.KeeperStart {
		return 0, fmt.Errorf("container %s is not running", id)
	}
	var cgroupFD *os.File
	if rec.Cgroup != "" {
		cg := &cgroupv2.Cgroup{Dir: rec.Cgroup}
		if cgroupFD, err = os.OpenFile(cg.Leaf(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return 0, fmt.Errorf("container %s: its cgroup: %w", id, err)
		}
		defer cgroupFD.Close()
	}
	std, err := callerStdio(!o.Detach && !p.Terminal)
	if err != nil {
		return 0, err
	}
	var sigs *sigproxy.Proxy
	if !o.Detach {
		sigs = sigproxy.Listen().Except(unix.SIGWINCH)
		defer sigs.Stop()
	}
	child, err := nsexec.Start(nsexec.Config{
		Role:  role.Exec,
		Args:  []string{"usandbox-runc-exec", id},
		Env:   []string{},
		Flags: flags,
		Join:  join, JoinPidNS: pidns, CgroupFD: cgroupFD,
		Stdin: std.in, Stdout: std.out, Stderr: std.err,
		OOMScoreAdj: oci.OOMScoreAdj,
	})
	if err != nil {
		std.close()
		return 0, fmt.Errorf("entering container %s: %w", id, err)
	}
	std.started()
	defer std.finish()
	if err := wire.Send(child.Conn, s); err != nil {
		child.Signal(unix.SIGKILL)
		child.Wait()
		return 0, err
	}
	var execErr error
	for {
		var m proto.SetupMessage
		fds, err := wire.Recv(child.Conn, &m)
		if err != nil {
			break // the process runs: its exec closed the socket
		}
		switch m.Kind {
		case proto.KindPTY:
			if len(fds) == 1 {
				master := os.NewFile(uintptr(fds[0]), "pty-master")
				if err := sendConsole(o.ConsoleSocket, master); err != nil && execErr == nil {
					child.Signal(unix.SIGKILL)
					execErr = err
				}
				master.Close()
			}
		case proto.KindStarted:
		case proto.KindSetupError:
			execErr = &ExitError{Code: m.Code, Msg: m.Msg}
		}
	}
	if execErr != nil {
		child.Wait()
		return 0, execErr
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, child.Pid); err != nil {
			child.Signal(unix.SIGKILL)
			child.Wait()
			return 0, err
		}
	}
	if o.Detach {
		return 0, nil
	}
	sigs.Forward(child.Signal)
	st, err := child.Wait()
	sigs.Stop()
	if err != nil {
		return 0, err
	}
	return exitStatus(st), nil
}
