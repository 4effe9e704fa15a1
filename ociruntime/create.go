package ociruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/atomicwriter"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/wire"
	"usandbox/nsexec"
	"usandbox/sandbox/inner"
)

// CreateOptions are create's flags.
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoNewKeyring  bool
}

// Create creates container id from a bundle: on success its process
// waits for Start. On failure nothing is left: no record, no process, no
// cgroup.
func (r *Runtime) Create(id string, o CreateOptions) (err error) {
	std, err := callerStdio(false)
	if err != nil {
		return err
	}
	_, err = r.create(id, o, true, std)
	return err
}

// created is a container that create made, for run to go on with.
type created struct {
	rec   *Record
	child *nsexec.Child
}

func (r *Runtime) create(id string, o CreateOptions, detach bool, std *stdio) (cr *created, err error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle's config: %w", err)
	}
	var cfg specs.Spec
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("the bundle's config.json: %w", err)
	}
	if err := os.MkdirAll(r.Root, 0o700); err != nil {
		return nil, err
	}
	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container with id %s already exists", id)
		}
		return nil, err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			os.RemoveAll(dir)
		}
	}()
	c, err := convert(id, bundle, &cfg, dir)
	if err != nil {
		return nil, err
	}
	defer c.closeJoin()
	s := &c.spec
	s.OCI.NoNewKeyring = o.NoNewKeyring
	if s.Process.Terminal && o.ConsoleSocket == "" && detach {
		return nil, errors.New("process.terminal is true: give --console-socket for its pty's master")
	}
	fifo := filepath.Join(dir, fifoFile)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("making the start FIFO: %w", err)
	}
	s.OCI.Fifo = fifo
	rec := &Record{ID: id, Bundle: bundle, Rootfs: s.OCI.Rootfs, Created: time.Now().UTC(), Owner: owner(), Annotations: cfg.Annotations, Flags: c.all, OwnPidNS: c.flags&unix.CLONE_NEWPID != 0, Hooks: c.hooks}

	var cg *cgroupv2.Cgroup
	if c.limits.Any() && r.SystemdCgroup {
		return nil, errors.New("linux.resources with --systemd-cgroup: usandbox-runc does not manage cgroups through systemd; drop --systemd-cgroup (SystemdCgroup = false) to have them on the cgroup v2 filesystem")
	}
	if c.limits.Any() {
		info, err := cgroupv2.Detect()
		if err != nil {
			return nil, fmt.Errorf("linux.resources: %w", err)
		}
		if cg, err = info.Create(id, c.limits); err != nil {
			return nil, fmt.Errorf("linux.resources: %w", err)
		}
		undo = append(undo, func() { cg.Remove() })
		rec.Cgroup, rec.PidsLimit = cg.Dir, c.limits.PidsLimit
		// The container's cgroup namespace, if it has one, is rooted at
		// the leaf.
	}
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer lifeW.Close()
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		lifeR.Close()
		return nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lifeR.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	// In the caller's pid namespace, the container sees the keeper: see
	// CloneBinary. (A pod member's namespace, a child of the caller's,
	// does not.)
	sb := &nsexec.SandboxConfig{Lifeline: lifeR, Lock: lock, Detach: true, JoinNS: c.join, CloneBinary: c.callersPids}
	child, err := nsexec.Start(nsexec.Config{
		Role:    role.Sandbox,
		Args:    []string{"usandbox-runc-init", id},
		Env:     []string{},
		Flags:   c.flags,
		Sandbox: sb,
		MapIDs:  func(pid int) error { return mapIDs(pid, c.uidMap, c.gidMap) },
		Stdin:   std.in, Stdout: std.out, Stderr: std.err,
		OOMScoreAdj: s.OCI.OOMScoreAdj,
	})
	lifeR.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the container: %w", err)
	}
	undo = append(undo, func() {
		child.Signal(unix.SIGKILL)
		child.Wait()
		child.WaitKeeper()
	})
	rec.Pid, rec.PidStart = child.Pid, startTime(child.Pid)
	rec.Keeper = child.KeeperPid()
	rec.KeeperStart = startTime(rec.Keeper)
	if cg != nil {
		if err := cg.Add(child.Pid); err != nil {
			return nil, err
		}
	}
	if _, err := lifeW.Write([]byte{nsexec.LifelineGo}); err != nil {
		return nil, fmt.Errorf("starting the container's init: %w", err)
	}
	s.OCI.State = ociState(rec, specs.StateCreating)
	rec.Spec = *s
	if err := wire.Send(child.Conn, *s); err != nil {
		return nil, err
	}
	// The read end, non-blocking: the open does not wait for a writer,
	// and the container's process polls it for the start's byte.
	ff, err := os.OpenFile(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the start FIFO: %w", err)
	}
	err = wire.Send(child.Conn, proto.SetupMessage{Kind: proto.KindFifo}, int(ff.Fd()))
	ff.Close()
	if err != nil {
		return nil, err
	}
	if err := r.handshake(rec, child, o.ConsoleSocket); err != nil {
		return nil, err
	}
	if err := r.save(rec); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, rec.Pid); err != nil {
			return nil, err
		}
	}
	return &created{rec: rec, child: child}, nil
}

// handshake follows the container's setup until it waits for the start:
// the pty's master goes to the console socket, the runtime's hooks run
// when setup stops for them.
func (r *Runtime) handshake(rec *Record, child *nsexec.Child, consoleSocket string) error {
	for {
		var m proto.SetupMessage
		fds, err := wire.Recv(child.Conn, &m)
		if err != nil {
			st, _ := child.Wait()
			return fmt.Errorf("the container's setup ended before it was created (%v)", st)
		}
		switch m.Kind {
		case proto.KindPTY:
			if len(fds) != 1 {
				return errors.New("the container's setup sent no pty")
			}
			master := os.NewFile(uintptr(fds[0]), "pty-master")
			err := sendConsole(consoleSocket, master)
			master.Close()
			if err != nil {
				return err
			}
		case proto.KindHooks:
			// The runtime spec's state for these hooks: created.
			state := ociState(rec, specs.StateCreated)
			if err := runHooks("prestart", rec.Hooks.Prestart, state); err != nil { //nolint:staticcheck // deprecated, still run
				return err
			}
			if err := runHooks("createRuntime", rec.Hooks.CreateRuntime, state); err != nil {
				return err
			}
			if err := wire.Send(child.Conn, proto.SetupMessage{Kind: proto.KindResume}); err != nil {
				return err
			}
		case proto.KindCreated:
			return nil
		case proto.KindSetupError:
			for _, fd := range fds {
				unix.Close(fd)
			}
			return &ExitError{Code: m.Code, Msg: m.Msg}
		default:
			return fmt.Errorf("the container's setup sent %q", m.Kind)
		}
	}
}

// ExitError is a failure of the container's setup with the status the
// container's process would have had (125, or 126/127 when its command
// cannot be run).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// Start lets a created container's process run, then runs the poststart
// hooks.
func (r *Runtime) Start(id string) error {
	rec, err := r.Load(id)
	if err != nil {
		return err
	}
	switch st := r.Status(rec); st {
	case "created":
	case "stopped":
		return fmt.Errorf("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already %s container", st)
	}
	fifo := filepath.Join(r.dir(id), fifoFile)
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("container %s: its process no longer waits for the start", id)
	}
	if err != nil {
		return fmt.Errorf("container %s: the start FIFO: %w", id, err)
	}
	_, err = unix.Write(fd, []byte{0})
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("container %s: starting: %w", id, err)
	}
	if err := os.Remove(fifo); err != nil {
		return err
	}
	// Until the process is the bundle's: the poststart hooks run after
	// it is executed (the runtime spec's order), and a signal sent once
	// start returns is the process's, not its setup's.
	waitExec(rec)
	if rec.Cgroup != "" {
		if err := (&cgroupv2.Cgroup{Dir: rec.Cgroup}).SetPidsMax(rec.PidsLimit); err != nil {
			return err
		}
	}
	if rec.Hooks != nil {
		if err := runHooks("poststart", rec.Hooks.Poststart, ociState(rec, specs.StateRunning)); err != nil {
			return err
		}
	}
	return nil
}

// waitExec waits (at most 2 s) until the container's process has
// executed its command, or ended: its name is no longer the init's
// ("usandbox-init"), or its /proc/PID/exe, closed while it is not
// dumpable, opens.
func waitExec(rec *Record) {
	comm := "/proc/" + strconv.Itoa(rec.Pid) + "/comm"
	exe := "/proc/" + strconv.Itoa(rec.Pid) + "/exe"
	d := 50 * time.Microsecond
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if !rec.alive() {
			return
		}
		if b, err := os.ReadFile(comm); err == nil && strings.TrimSpace(string(b)) != initName {
			return
		}
		if _, err := os.Readlink(exe); err == nil {
			return
		}
		time.Sleep(d)
		if d < 5*time.Millisecond {
			d *= 2
		}
	}
}

// initName is the name (comm) of a container's process until it executes
// its command: nsexec's init's.
const initName = "usandbox-init"

// Run creates and starts container id; unless detach, it waits for the
// container's process, deletes the container and returns the status.
func (r *Runtime) Run(id string, o CreateOptions, detach bool) (int, error) {
	std, err := callerStdio(!detach)
	if err != nil {
		return 0, err
	}
	cr, err := r.create(id, o, detach, std)
	if err != nil {
		std.close()
		return 0, err
	}
	std.started()
	if err := r.Start(id); err != nil {
		r.Delete(id, true)
		std.finish()
		return 0, err
	}
	if detach {
		return 0, nil
	}
	st, err := cr.child.Wait()
	cr.child.WaitKeeper()
	std.finish()
	code := 0
	if err == nil {
		code = exitStatus(st)
	}
	if derr := r.Delete(id, true); err == nil {
		err = derr
	}
	return code, err
}

func exitStatus(st *os.ProcessState) int {
	if st == nil {
		return 255
	}
	// os.ProcessState's Sys is a syscall.WaitStatus (not x/sys/unix's).
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// runHooks runs hooks in the runtime's namespaces, each with state on
// its stdin.
func runHooks(kind string, hs []specs.Hook, state []byte) error {
	return inner.RunHooks(kind, hooks(hs), state)
}

func writePidFile(path string, pid int) error {
	return atomicwriter.WriteFile(path, []byte(strconv.Itoa(pid)), 0o644)
}

func owner() string {
	if u, err := user.LookupId(strconv.Itoa(os.Geteuid())); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Geteuid())
}

// mapIDs writes the uid and gid maps of pid's new user namespace: as
// root directly; else a map of the caller's own IDs only, directly
// (setgroups denied, as the kernel wants); else with newuidmap and
// newgidmap, which allow the caller's ranges of /etc/subuid and
// /etc/subgid.
func mapIDs(pid int, uidMap, gidMap []specs.LinuxIDMapping) error {
	line := func(m []specs.LinuxIDMapping) string {
		var b strings.Builder
		for _, e := range m {
			fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
		}
		return b.String()
	}
	proc := "/proc/" + strconv.Itoa(pid) + "/"
	own := func(m []specs.LinuxIDMapping, id int) bool {
		return len(m) == 1 && m[0].Size == 1 && int(m[0].HostID) == id
	}
	if os.Geteuid() == 0 && !InUserNS() {
		if err := os.WriteFile(proc+"uid_map", []byte(line(uidMap)), 0); err != nil {
			return fmt.Errorf("linux.uidMappings: %w", err)
		}
		if err := os.WriteFile(proc+"gid_map", []byte(line(gidMap)), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: %w", err)
		}
		return nil
	}
	if own(uidMap, os.Geteuid()) && own(gidMap, os.Getegid()) {
		for _, f := range [][2]string{{"setgroups", "deny"}, {"uid_map", line(uidMap)}, {"gid_map", line(gidMap)}} {
			if err := os.WriteFile(proc+f[0], []byte(f[1]), 0); err != nil {
				return fmt.Errorf("writing %s: %w", f[0], err)
			}
		}
		return nil
	}
	for _, h := range []struct {
		bin string
		m   []specs.LinuxIDMapping
	}{{"newuidmap", uidMap}, {"newgidmap", gidMap}} {
		args := []string{strconv.Itoa(pid)}
		for _, e := range h.m {
			args = append(args, strconv.FormatUint(uint64(e.ContainerID), 10), strconv.FormatUint(uint64(e.HostID), 10), strconv.FormatUint(uint64(e.Size), 10))
		}
		out, err := exec.Command(h.bin, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %s (%v): the mappings must lie within your ranges in /etc/subuid and /etc/subgid", h.bin, strings.Join(args, " "), strings.TrimSpace(string(out)), err)
		}
	}
	return nil
}
