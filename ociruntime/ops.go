package ociruntime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
)

// Kill sends sig to the container's init, which passes it on to the
// container's process (SIGKILL ends the whole pid namespace); with all,
// to every process of the container.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	rec, err := r.Load(id)
	if err != nil {
		return err
	}
	fd, err := rec.pidfd()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if all {
		r.signalOthers(rec, sig)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("container %s is not running", id)
		}
		return fmt.Errorf("container %s: %w", id, err)
	}
	return nil
}

// Delete removes a stopped (or, with force, any) container: its
// processes are killed and dead first, then the poststop hooks run, and
// its cgroup and record go.
func (r *Runtime) Delete(id string, force bool) error {
	rec, err := r.Load(id)
	if err != nil {
		if force && errors.Is(err, ErrNotExist) {
			return nil
		}
		return err
	}
	// The runtime spec's rule: a container that is not stopped stays
	// (runc deletes a created one; its callers give --force anyway).
	switch st := r.Status(rec); st {
	case "stopped":
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s (use --force)", id, st)
		}
	}
	if fd, err := rec.pidfd(); err == nil {
		r.signalOthers(rec, unix.SIGKILL)
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		waitGone(fd)
		unix.Close(fd)
	}
	// The keeper holds the container's mounts until it sees the init go.
	if rec.Keeper > 0 && startTime(rec.Keeper) == rec.KeeperStart {
		if fd, err := unix.PidfdOpen(rec.Keeper, 0); err == nil {
			waitGone(fd)
			unix.Close(fd)
		}
	}
	if rec.Cgroup != "" {
		if err := (&cgroupv2.Cgroup{Dir: rec.Cgroup}).Remove(); err != nil {
			return err
		}
	}
	var hookErr error
	if rec.Hooks != nil {
		hookErr = runHooks("poststop", rec.Hooks.Poststop, ociState(rec, specs.StateStopped))
	}
	if err := os.RemoveAll(r.dir(id)); err != nil {
		return err
	}
	return hookErr
}

// waitGone waits (at most 10 s) for the process of pidfd fd to exit.
func waitGone(fd int) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := unix.Poll(pfd, 100)
		if n > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
			return
		}
	}
}

// Pids lists the host pids of the container's processes: its init and,
// when the container made its pid namespace, every process in that
// namespace (the keeper's pid_for_children). A container that joined
// another's pid namespace by path (a pod member) has no process there
// known to be its own but its init: the others may be any member's, and
// are left out, as runc leaves them out without a cgroup.
func (r *Runtime) Pids(rec *Record) ([]int, error) {
	if !rec.alive() {
		return nil, fmt.Errorf("container %s is not running", rec.ID)
	}
	set := map[int]bool{rec.Pid: true}
	if ns, ok := rec.pidNS(); ok {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err == nil && inPidNS(pid, ns) {
				set[pid] = true
			}
		}
	}
	var out []int
	for p := range set {
		out = append(out, p)
	}
	sort.Ints(out)
	return out, nil
}

// pidNS is the container's own pid namespace (the keeper's
// pid_for_children), if it made one and its keeper still runs.
func (rec *Record) pidNS() (unix.Stat_t, bool) {
	var ns unix.Stat_t
	if !rec.OwnPidNS || rec.Flags&unix.CLONE_NEWPID == 0 || rec.Keeper <= 0 || startTime(rec.Keeper) != rec.KeeperStart {
		return ns, false
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/pid_for_children", rec.Keeper), &ns); err != nil {
		return ns, false
	}
	return ns, true
}

func inPidNS(pid int, ns unix.Stat_t) bool {
	var st unix.Stat_t
	return unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/pid", &st) == nil && st.Ino == ns.Ino && st.Dev == ns.Dev
}

// signalOthers sends sig to every process of the container but its init
// (see Pids), each through a pidfd that is checked, once open, to be of
// a process still in the container's pid namespace: a pid that a process
// outside has taken meanwhile is not signaled. A process gone meanwhile
// has nothing to be signaled.
func (r *Runtime) signalOthers(rec *Record, sig unix.Signal) {
	ns, ok := rec.pidNS()
	if !ok {
		return
	}
	pids, err := r.Pids(rec)
	if err != nil {
		return
	}
	for _, p := range pids {
		if p == rec.Pid {
			continue
		}
		fd, err := unix.PidfdOpen(p, 0)
		if err != nil {
			continue
		}
		if inPidNS(p, ns) {
			unix.PidfdSendSignal(fd, sig, nil, 0)
		}
		unix.Close(fd)
	}
}

// Pause freezes the container (cgroup v2's freezer), Resume thaws it.
func (r *Runtime) Pause(id string, on bool) error {
	rec, err := r.Load(id)
	if err != nil {
		return err
	}
	if !rec.alive() {
		return fmt.Errorf("container %s is not running", id)
	}
	if rec.Cgroup == "" {
		return fmt.Errorf("container %s has no cgroup of its own, so it cannot be frozen: give it linux.resources on a host with a delegated cgroup v2 (see usandbox-runc's README section)", id)
	}
	return (&cgroupv2.Cgroup{Dir: rec.Cgroup}).Freeze(on)
}

// Update changes the container's resources.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	rec, err := r.Load(id)
	if err != nil {
		return err
	}
	l, err := convertResources(res)
	if err != nil {
		return err
	}
	if rec.Cgroup == "" {
		return fmt.Errorf("container %s has no cgroup of its own: its resources cannot be updated (it was created without linux.resources)", id)
	}
	return (&cgroupv2.Cgroup{Dir: rec.Cgroup}).Update(l)
}

// sendConsole sends a pty's master to the caller's console socket, as
// runc does: one message, the pty's name as data, the fd as SCM_RIGHTS.
func sendConsole(path string, master *os.File) error {
	if path == "" {
		return errors.New("process.terminal is true but no --console-socket was given")
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return errors.New("--console-socket: not a unix socket")
	}
	name := filepath.Base(master.Name())
	if _, _, err := uc.WriteMsgUnix([]byte(name), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("--console-socket: sending the pty: %w", err)
	}
	return nil
}
