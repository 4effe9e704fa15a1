// Package ociruntime is usandbox-runc: an OCI runtime with runc's command
// line (create, start, state, kill, delete, exec, ...), so that podman,
// containerd (and through it Kubernetes) run their containers in
// usandbox's sandbox. It is a front end of the same engine as usandbox
// run: package nsexec's C keeper and init, package sandbox/inner's setup
// (mounts made detached and attached fd-relative inside the root, every
// inherited fd closed, a new session keyring, capabilities, no_new_privs
// and the seccomp filter on the thread that calls execve), package
// sandbox/seccomp's compiler, package cgroupv2.
//
// The sandbox's invariants hold for a container as for a sandbox: from
// the moment the container's process can run, no process of its pid
// namespace holds an fd, cwd or root outside its root (the process
// waiting for the start holds the start FIFO only, and is not dumpable); every path of the bundle's mounts is resolved inside
// the root, without following a symlink out, and every mount's flags are
// set on the detached mount before it is attached; nothing of the caller
// comes in but the stdio it gives (no session keyring, no fd beyond
// stdio, the bundle's environment only). What the bundle asks for is what
// the container gets: no seccomp filter unless linux.seccomp has one
// (runc's rule; podman and containerd send docker's default).
//
// The process model is runc's: create returns while the container's
// process waits for start; the pid file holds that process, pid 1 of its
// pid namespace (usandbox's C init runs the setup itself instead of
// forking it, so the command is pid 1, as under runc, and a SIGTERM it
// has no handler for is ignored, as there); the container inherits
// create's stdio, and a pty's master goes over --console-socket; run and
// exec in the foreground give a process without a terminal of its own
// pipes for those of the caller's stdio that are a terminal, as runc
// does, never the terminal itself. The
// process and the keeper (which holds the namespaces, outside the pid
// namespace, for exec) are re-parented to the caller's subreaper when
// create exits.
package ociruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/atomicwriter"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
)

// Runtime is usandbox-runc's global options.
type Runtime struct {
	// Root holds a directory per container (runc's --root).
	Root string
	// SystemdCgroup is runc's --systemd-cgroup: cgroups through
	// systemd, which usandbox-runc does not do (a container with
	// linux.resources is refused).
	SystemdCgroup bool
}

// ErrNotExist is wrapped by the error of an operation on an unknown
// container; its text is runc's, which podman matches.
var ErrNotExist = errors.New("does not exist")

// Record is what usandbox-runc keeps of a container, in ROOT/ID/state.json.
type Record struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Pid is the init's host pid, PidStart its start time (in clock
	// ticks since boot, /proc/PID/stat's field 22), which tells it from
	// a later process of the same pid.
	Pid         int    `json:"pid"`
	PidStart    uint64 `json:"pidStart"`
	Keeper      int    `json:"keeper"`
	KeeperStart uint64 `json:"keeperStart"`
	// Flags are the container's namespaces (CLONE_NEW*) that exec enters.
	Flags uintptr `json:"flags"`
	// OwnPidNS: the container made its pid namespace, so every process
	// in it is the container's (not so for one joined by path).
	OwnPidNS bool `json:"ownPidNS,omitempty"`
	// Cgroup is the container's cgroup directory (resources), or empty.
	Cgroup string `json:"cgroup,omitempty"`
	// PidsLimit is linux.resources.pids.limit, written by start once the
	// process runs its command (the setup's Go threads count as tasks).
	PidsLimit int64 `json:"pidsLimit,omitempty"`
	// Spec is the container's spec as the engine took it: exec starts
	// from it.
	Spec  spec.Spec    `json:"spec"`
	Hooks *specs.Hooks `json:"hooks,omitempty"`
}

const (
	recordFile = "state.json"
	fifoFile   = "exec.fifo"
)

var validID = regexp.MustCompile(`^[\w+\-.]+$`)

func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

// checkID refuses IDs that are not a plain name (runc's rule).
func checkID(id string) error {
	if id == "" {
		return errors.New("container ID cannot be empty")
	}
	if !validID.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("invalid container ID %q: use letters, digits and + - . _", id)
	}
	return nil
}

// Load reads container id's record.
func (r *Runtime) Load(id string) (*Record, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(r.dir(id), recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("container %s: its record %s: %w", id, filepath.Join(r.dir(id), recordFile), err)
	}
	return &rec, nil
}

func (r *Runtime) save(rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicwriter.WriteFile(filepath.Join(r.dir(rec.ID), recordFile), b, 0o600)
}

// startTime is /proc/PID/stat's start time of pid, 0 if it is gone.
func startTime(pid int) uint64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold anything: count the
	// fields after its last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	// Fields from 3 (state) on; start time is field 22.
	if len(f) < 20 {
		return 0
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0 // dead, if not reaped yet
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// alive: the record's init still runs.
func (rec *Record) alive() bool {
	return rec.Pid > 0 && startTime(rec.Pid) == rec.PidStart
}

// pidfd opens a pidfd of the record's init if it is still that process.
func (rec *Record) pidfd() (int, error) {
	fd, err := unix.PidfdOpen(rec.Pid, 0)
	if err != nil {
		return -1, fmt.Errorf("container %s is not running", rec.ID)
	}
	if startTime(rec.Pid) != rec.PidStart {
		unix.Close(fd)
		return -1, fmt.Errorf("container %s is not running", rec.ID)
	}
	return fd, nil
}

// Status is the container's OCI status: creating, created, running,
// paused or stopped.
func (r *Runtime) Status(rec *Record) string {
	if !rec.alive() {
		return "stopped"
	}
	if _, err := os.Lstat(filepath.Join(r.dir(rec.ID), fifoFile)); err == nil {
		return "created"
	}
	if rec.Cgroup != "" {
		if b, err := os.ReadFile(filepath.Join(rec.Cgroup, "cgroup.freeze")); err == nil && strings.TrimSpace(string(b)) == "1" {
			return "paused"
		}
	}
	return "running"
}

// State is runc's state: the OCI state and a few more fields.
type State struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// StateOf is the container's state.
func (r *Runtime) StateOf(rec *Record) State {
	st := State{State: specs.State{Version: specs.Version, ID: rec.ID, Status: specs.ContainerState(r.Status(rec)), Bundle: rec.Bundle, Annotations: rec.Annotations}, Rootfs: rec.Rootfs, Created: rec.Created, Owner: rec.Owner}
	if st.Status != specs.StateStopped {
		st.Pid = rec.Pid
	}
	return st
}

// ociState is the OCI state JSON that hooks get on stdin.
func ociState(rec *Record, status specs.ContainerState) []byte {
	b, _ := json.Marshal(specs.State{Version: specs.Version, ID: rec.ID, Status: status, Pid: rec.Pid, Bundle: rec.Bundle, Annotations: rec.Annotations})
	return b
}

// List is every container's record, by ID.
func (r *Runtime) List() ([]*Record, error) {
	ents, err := os.ReadDir(r.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		rec, err := r.Load(e.Name())
		if err != nil {
			continue // being created or deleted
		}
		out = append(out, rec)
	}
	return out, nil
}
