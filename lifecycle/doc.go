// Package lifecycle is usandbox's engine: the one place where sandboxes
// are created, started, attached to, waited for, stopped, killed, exec'd
// into, removed, listed, inspected and pruned. The command line
// (cmd/usandbox) and every other front end (a Docker API socket, an OCI
// runtime, a builder) call an Engine and only turn its results into
// output, and its typed errors (ErrNotFound, ErrConflict, ...) into exit
// statuses or HTTP statuses.
//
// # States
//
//	          Create                 Start / Run
//	(none) ───────────► created ─────────────────► running
//	                       │                          │ the command ends, Stop, Kill
//	                       │                          ▼
//	                       │        Start / Run    exited ──┐
//	                       │       ◄──────────────────┘     │
//	                       └──────────── Remove ────────────┴──► (none)
//
// "running" is a fact of the host, never of a record: the process that
// watches a sandbox (the foreground usandbox, or the detached sandbox's
// monitor) and the sandbox's keeper hold the sandbox's lock (a flock in
// its directory) while any process of the sandbox lives; a free lock
// means stopped, whatever the files say. An --rm sandbox goes from
// running straight to none.
//
// # Locks
//
// Two locks, always taken in this order: a sandbox's operation lock
// (RunRoot/locks/ID.lock) serializes the operations that change one
// sandbox (start, stop, kill, remove); the store's names lock (package
// sandbox) serializes name checks, creation and the reclaiming of what
// killed processes left.
//
// # Stopping
//
// Stop sends SIGTERM to the sandbox's init (which passes it to the
// command), waits up to the grace period, then kills every process of the
// sandbox at once (cgroup.kill where the sandbox has a cgroup, else
// SIGKILL of the init, whose death ends its pid namespace).
//
// # Security
//
// The invariants of the sandbox (no host fd, cwd or root inside; nothing
// of the caller leaks in; seccomp on by default; paths resolved inside the
// root) are kept by the layers below: package sandbox, package nsexec and
// package sandbox/inner document them. This package adds one: a sandbox's
// files are deleted only once its lock is free, so only after every
// process of it is dead.
package lifecycle
