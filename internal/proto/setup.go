package proto

// The setup protocol, between the parent (package sandbox: Start for a
// new sandbox, Exec for usandbox exec) and the Go process in the sandbox
// (package sandbox/inner: setup, or exec's helper), on the same socket
// as the nsexec protocol, once the C stage is done. A spec.Spec goes in;
// SetupMessages come back until the command runs, when the socket,
// close-on-exec, closes by itself.
//
//	parent (host)                          setup / exec helper (Go, in the sandbox)
//	-------------                          ----------------------------------------
//	spec.Spec ---------------------->      mounts, pivot_root, hardening
//	                     <-------------    SetupMessage{pty} + the pty's master fd (with -t)
//	                     <-------------    SetupMessage{bypass} + the seccomp listener (bypass=true)
//	                     <-------------    SetupMessage{started}   (setup only)
//	                                       execve: the socket closes
//	                     <-------------    or SetupMessage{error, code, msg}, then exit code
//
// An OCI container (spec.OCI, usandbox-runc) has two more steps: with
// runtime hooks, setup stops before pivot_root until the runtime ran them,
// and it says when everything but the start is done:
//
//	SetupMessage{fifo} + the start FIFO's read end (spec.OCI.Fifo set)
//	                     <-------------    SetupMessage{hooks}   (spec.OCI.RuntimeHooks)
//	SetupMessage{resume} ---------->       createContainer hooks, pivot_root, ...
//	                     <-------------    SetupMessage{created}: waits for the start
//	                                       (the runtime's create returns)
//
// Signals go to the init's host pid (kill(2)); it passes them on. The
// init exits with the command's status.
const (
	// KindHooks: the container's namespaces and mounts are made; the
	// runtime runs its hooks now and answers KindResume.
	KindHooks  Kind = "hooks"
	KindResume Kind = "resume"
	// KindCreated: the container is created; its command runs once the
	// runtime's start writes to spec.OCI.Fifo.
	KindCreated Kind = "created"
	// KindFifo carries the read end of the start FIFO (opened by the
	// runtime: the container's root may not be allowed to open it).
	KindFifo Kind = "fifo"
	// KindPTY carries the master fd of the sandbox's pty (-t).
	KindPTY Kind = "pty"
	// KindBypass carries the seccomp listener of a command under socket
	// bypass (spec.Spec.Bypass), for the parent's handler.
	KindBypass Kind = "bypass"
	// KindStarted: the command is about to run (setup is done).
	KindStarted Kind = "started"
	// KindSetupError: setup failed; the process exits with Code (125,
	// 126 or 127) and Msg says why, as one sentence.
	KindSetupError Kind = "error"
)

// SetupMessage is one message from the sandbox's setup or exec helper.
type SetupMessage struct {
	Kind Kind   `json:"kind"`
	Code int    `json:"code,omitempty"`
	Msg  string `json:"msg,omitempty"`
}

// The detach protocol, between the usandbox that starts a detached
// sandbox (start, run -d) and the monitor it starts (role.Monitor), on a
// socket pair: the monitor's fd DetachConnFD, and fd DetachLockFD when
// it holds a new sandbox's lock.
//
//	starter                                monitor
//	-------                                -------
//	Detach{root, runRoot, id} ------->     [DetachLockFD: the lock, taken by Create]
//	                                       starts the sandbox (the protocols above)
//	                     <-------------    Detached{started, pid}: the command runs
//	                     <-------------    or Detached{failed, code, msg}
//
// The starter returns then; the monitor stays, writes the log, records
// the exit, and (no published ports) becomes the lean monitor.
const (
	KindDetach   Kind = "detach"
	KindDetached Kind = "detached"
)

// Fds of a monitor.
const (
	DetachConnFD = 3
	DetachLockFD = 4
)

// Detach asks a monitor to start sandbox ID of the store Root, RunRoot.
type Detach struct {
	Kind    Kind   `json:"kind"`
	Root    string `json:"root"`
	RunRoot string `json:"runRoot"`
	ID      string `json:"id"`
	// HeldLock: fd DetachLockFD is the sandbox's lock, taken by Create.
	HeldLock bool `json:"heldLock,omitempty"`
}

// Detached is the monitor's answer: Pid, the init's host pid, once the
// command runs; or why it does not: Code (125, 126, 127) and Msg.
type Detached struct {
	Kind Kind   `json:"kind"`
	Pid  int    `json:"pid,omitempty"`
	Code int    `json:"code,omitempty"`
	Msg  string `json:"msg,omitempty"`
}

// The port child protocol, between the network package's port driver
// (in the monitor or the foreground usandbox) and the port helper it
// starts in the sandbox's network namespace (role.PortChild, nsexec's
// plain mode joining the keeper's namespaces): one frame, the builtin
// port driver's opaque map (rootlesskit's OpaqueForChild), then the
// driver's own protocol on the socket; the helper ends when the socket
// closes.
type PortChildConfig = map[string]string
