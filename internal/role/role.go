// Package role names the processes that usandbox's binaries run as, and
// says which one this process is. There is one mechanism: the environment
// variable Env holds the role. The C stages (package nsexec's constructor,
// package lean's) read the same variable before the Go runtime starts
// (which of nsexec's modes a role gets is internal/proto's StageOf; the
// constructor unsets UserNS, whose copy is the command line again); Go
// code reads it once, in the dispatcher of package lifecycle, through
// Current.
//
// The roles, and which binary and stage runs them:
//
//	CLI         ""            the command line (usandbox, usandbox-image)
//	UserNS      "userns"      the command line again, inside a user namespace (nsexec plain mode)
//	Remove      "remove"      deletes stopped sandboxes' directories inside the user namespace (nsexec plain mode)
//	Sandbox     "sandbox"     keeper and init (C, nsexec sandbox mode), then setup (Go, pid 2)
//	Exec        "exec"        usandbox exec's helper (nsexec fork mode, then Go)
//	PortChild   "portchild"   the port driver's helper in the sandbox (nsexec plain mode, joined, then Go)
//	Monitor     "monitor"     a detached sandbox's watcher (Go)
//	LeanMonitor "lean"        the same watcher once the sandbox runs (C, package lean)
//	Finish      "finish"      the lean monitor's last step (Go)
//	Probe       "probe"       a doctor probe in a throwaway user namespace (Go)
//	Copy        "copy"        cp and export's helper with a sandbox's view (nsexec plain mode, joined or new namespaces, then Go)
package role

import "os"

// Env is the environment variable that holds a process's role.
const Env = "_USANDBOX_ROLE"

// Role is what a process of usandbox is for.
type Role string

// The roles (see the package comment).
const (
	CLI         Role = ""
	UserNS      Role = "userns"
	Remove      Role = "remove"
	Sandbox     Role = "sandbox"
	Exec        Role = "exec"
	PortChild   Role = "portchild"
	Monitor     Role = "monitor"
	LeanMonitor Role = "lean"
	Finish      Role = "finish"
	Probe       Role = "probe"
	// NetHolder holds the user-defined networks (package network/holder):
	// started through nsexec in the networks' user namespace.
	NetHolder Role = "netholder"
	// Copy reads and writes a sandbox's files (package sandbox/inner's
	// CopyMain).
	Copy Role = "copy"
)

// All is every role but CLI, for generated code and tests.
var All = []Role{UserNS, Remove, Sandbox, Exec, PortChild, Monitor, LeanMonitor, Finish, Probe, NetHolder, Copy}

// EnvEntry is the KEY=VALUE that gives a child process role r.
func (r Role) EnvEntry() string { return Env + "=" + string(r) }

// Current is this process's role. It removes Env from the environment, so
// that nothing this process starts inherits the role by accident.
func Current() Role {
	r, ok := os.LookupEnv(Env)
	if !ok {
		return CLI
	}
	os.Unsetenv(Env)
	return Role(r)
}
