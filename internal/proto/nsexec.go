package proto

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/internal/sigproxy"

	"usandbox/internal/role"
)

// The nsexec protocol, between package nsexec's Start (the parent, Go)
// and its C constructor in the copy it starts, before the copy's Go
// runtime exists. It runs on a socket, fd ConnFD of the copy; the role
// (environment variable role.Env) says which Stage the constructor runs.
//
//	parent (Go)                            copy (C constructor)
//	-----------                            --------------------
//	Config -------------------------->     (in the socket before the copy starts)
//	                                       role -> Stage; PR_SET_PDEATHSIG
//	[new user namespace]                   unshare(CLONE_NEWUSER)
//	                      <-------------   MapMe{pid}
//	newuidmap/newgidmap pid
//	Mapped (or Abort: give up) ------->    setresuid/setresgid 0, setgroups
//	                                       unshare the rest, or setns (Join)
//	                                       [ModeFork, ModeSandbox] clone
//	                      <-------------   ChildPID{pid}: the process that runs Go
//	the caller's own frames follow, with the Go side of the role
//	(package sandbox/inner, network's port child)
//
// Instead of any message it sends, the copy may send Error{step, errno}
// and exit with ExitFailed; the parent prints it once. In ModeSandbox
// the copy stays as the sandbox's keeper, and the init it cloned waits
// for LifelineGo on its lifeline (a pipe, not a frame: its closing is
// what ends the sandbox) before it forks the Go setup process.
const (
	KindConfig   Kind = "config"
	KindMapMe    Kind = "map-me"
	KindMapped   Kind = "mapped"
	KindAbort    Kind = "abort"
	KindChildPID Kind = "child-pid"
	KindError    Kind = "error"
)

// Config is the first frame on the socket: what the constructor does,
// beyond what its role says. Fds are the copy's, -1 when absent.
type Config struct {
	Kind Kind `json:"kind"`
	// Flags are the CLONE_NEW* namespaces to create, or to join.
	Flags uint64 `json:"flags"`
	// PPid is the parent's pid: the copy ends if its parent is another
	// (the parent died before PR_SET_PDEATHSIG took effect).
	PPid int32 `json:"ppid"`
	// Join is a pidfd of the process whose namespaces (Flags) are
	// entered instead of new ones made; JoinPidNS its pid_for_children.
	Join      int32 `json:"join"`
	JoinPidNS int32 `json:"joinPidNS"`
	// Lifeline is the init's lifeline (ModeSandbox).
	Lifeline int32 `json:"lifeline"`
	// RemoveIn is the directory (O_PATH) whose UpperDir and WorkDir the
	// keeper removes once every process of the sandbox is dead
	// (ModeSandbox, --rm).
	RemoveIn int32 `json:"removeIn"`
	// ParentUserNS, when not -1, is a pidfd (or user namespace fd) of the
	// user namespace in which the new one is made (ModeSandbox): a
	// network's (package network/holder). The copy enters it, where it is
	// root, and a helper it forks there maps the new namespace by the
	// identity of each extent of that one's map: no MapMe, no newuidmap.
	ParentUserNS int32 `json:"parentUserNS"`
	// JoinFirst and JoinCount are namespaces to enter by fd (an OCI
	// bundle's namespaces given by path), the copy's fds JoinFirst to
	// JoinFirst+JoinCount-1, a user namespace first: they are entered
	// before any is made (ModeSandbox).
	JoinFirst int32 `json:"joinFirst"`
	JoinCount int32 `json:"joinCount"`
	// Detach, when 1, makes the init an OCI container's process, as in
	// runc: once it has read LifelineGo it outlives its parent (no
	// parent-death signal, no lifeline watched: the caller's subreaper
	// watches it) and runs the Go setup itself, as pid 1, instead of
	// forking it (ModeSandbox).
	Detach int32 `json:"detach"`
	// SetOOM, when 1, has the copy write OOMScoreAdj to its
	// /proc/self/oom_score_adj first thing, as the caller's user (later,
	// non-dumpable in a user namespace, it may no longer open the file);
	// what it starts inherits it (an OCI process's oomScoreAdj).
	SetOOM      int32 `json:"setOOM"`
	OOMScoreAdj int32 `json:"oomScoreAdj"`
	// Lock is the sandbox's lock, which the keeper holds until the
	// sandbox ended (ModeSandbox); -1 when there is none. The keeper
	// closes every other fd: it outlives its caller in the sandbox's
	// namespaces, and must hold nothing the caller let it inherit.
	Lock int32 `json:"lock"`
}

// MapMe asks the parent to write the uid and gid maps of Pid.
type MapMe struct {
	Kind Kind  `json:"kind"`
	Pid  int32 `json:"pid"`
}

// Mapped says the maps are written.
type Mapped struct {
	Kind Kind `json:"kind"`
}

// Abort says the parent gives up (mapping failed): the copy exits.
type Abort struct {
	Kind Kind `json:"kind"`
}

// ChildPID is the host pid of the process that runs Go: the new pid
// namespace's init (ModeSandbox), the forked process (ModeFork), or the
// copy itself (ModePlain). It is the C stage's last message: it is done.
type ChildPID struct {
	Kind Kind  `json:"kind"`
	Pid  int32 `json:"pid"`
}

// Error is a failed step.
type Error struct {
	Kind  Kind  `json:"kind"`
	Step  Step  `json:"step"`
	Errno int32 `json:"errno"`
}

// Step names what the constructor was doing when it failed.
type Step string

// The steps.
const (
	StepConfig    Step = "config"
	StepPdeathsig Step = "pdeathsig"
	StepUserNS    Step = "userns"
	StepSetID     Step = "setid"
	StepUnshare   Step = "unshare"
	StepFork      Step = "fork"
	StepJoin      Step = "join"
	StepParentNS  Step = "parentns"
	StepOOM       Step = "oom"
)

// Steps are all the steps, for generated code.
func Steps() []Step {
	return []Step{StepConfig, StepPdeathsig, StepUserNS, StepSetID, StepUnshare, StepFork, StepJoin, StepParentNS, StepOOM}
}

// String is what the step does, for an error message.
func (s Step) String() string {
	switch s {
	case StepConfig:
		return "reading its configuration"
	case StepPdeathsig:
		return "setting the parent-death signal"
	case StepUserNS:
		return "creating the user namespace"
	case StepSetID:
		return "becoming root in the user namespace"
	case StepUnshare:
		return "creating namespaces"
	case StepFork:
		return "forking into the new pid namespace"
	case StepJoin:
		return "joining the sandbox's namespaces"
	case StepParentNS:
		return "making the user namespace in the network's"
	case StepOOM:
		return "writing process.oomScoreAdj"
	}
	return "step " + strconv.Quote(string(s))
}

// ConnFD is the socket's fd in the copy.
const ConnFD = 3

// LifelineGo is the byte that lets a sandbox's init go on, once the
// parent has put it in its cgroup.
const LifelineGo = 'g'

// The directories of a sandbox that its keeper removes (--rm): the
// overlay's upper and work directories.
const (
	UpperDir = "upper"
	WorkDir  = "work"
)

// Mode is what the constructor does.
type Mode int

// The modes.
const (
	// ModePlain: the copy itself runs Go in the new (or joined)
	// namespaces.
	ModePlain Mode = iota
	// ModeFork: the copy forks once more, so that the process running
	// Go is in the new (or joined) pid namespace and the parent's child;
	// the copy exits.
	ModeFork
	// ModeSandbox: the copy stays as the sandbox's keeper, a C init is
	// pid 1 of the new pid namespace (the parent's child), and Go runs
	// in the init's first child, the setup process.
	ModeSandbox
)

// Stage is what the constructor does for a role.
type Stage struct {
	Mode Mode
	// Clear: the constructor unsets the role and closes the socket once
	// done, because the Go that follows is the command line again, and
	// what it starts with its environment (containers/storage
	// re-executes usandbox-image) must not be taken for a copy. Otherwise
	// both stay for the role's own Go code: role.Current, nsexec.Conn.
	Clear bool
}

// StageOf is role r's Stage, if the constructor has one for it.
func StageOf(r role.Role) (Stage, bool) {
	switch r {
	case role.UserNS:
		return Stage{Mode: ModePlain, Clear: true}, true
	case role.Remove, role.PortChild, role.NetHolder, role.Copy:
		return Stage{Mode: ModePlain}, true
	case role.Exec:
		return Stage{Mode: ModeFork}, true
	case role.Sandbox:
		return Stage{Mode: ModeSandbox}, true
	}
	return Stage{}, false
}

// InitSignals are the signals a sandbox's C init passes on to the
// command: those the parent relays (sigproxy.Default), and job control
// and timers sent from inside the sandbox.
func InitSignals() []unix.Signal {
	var out []unix.Signal
	for _, s := range sigproxy.Default {
		out = append(out, s.(syscall.Signal))
	}
	return append(out, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGALRM, unix.SIGPIPE)
}
