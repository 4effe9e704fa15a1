// Package proto is every message that usandbox's processes send each
// other, one Go type per protocol step, each one internal/wire frame (a
// 4-byte big-endian length, then JSON); and every constant that its C
// stages share with Go (roles, exit codes, fd numbers, file names,
// signals).
//
// # The processes of a sandbox
//
//	usandbox run (foreground)  or  the monitor (run -d, start: role monitor; in its own session)
//	│   holds the sandbox's lock (a new sandbox's since Create took it,
//	│   handed to the monitor as DetachLockFD), the lifeline's write end,
//	│   the relay pipes or the log, the socket to the C stage and setup;
//	│   forwards signals to the init (sigproxy); waits for the init and the
//	│   keeper. A monitor without -p then becomes the lean monitor (C,
//	│   role lean), and that the finish step (Go, role finish).
//	├── keeper (C, nsexec ModeSandbox, role sandbox): in the sandbox's
//	│   user, mount, network, uts and ipc namespaces, NOT in its pid
//	│   namespace; holds the lock and, for --rm, the sandbox directory;
//	│   once the init is dead (pidfd), removes an --rm sandbox's upper
//	│   and work directories, fd-relative, never following a symlink
//	├── init (C, pid 1 inside; the keeper's clone, CLONE_PARENT): holds
//	│   only its lifeline and a signalfd; waits for LifelineGo, forwards
//	│   InitSignals to the command, reaps, exits with its status (137
//	│   when the lifeline closes: the watcher is gone)
//	│   └── setup (Go, pid 2, package sandbox/inner) → execve → the command
//	│       host fds closed, the root built and entered, cwd resolved in
//	│       it, keyring, caps, no_new_privs, seccomp, then execve
//	├── [usandbox exec] its child (C, nsexec ModeFork, role exec): enters
//	│   the keeper's namespaces through a pidfd, forks into the sandbox's
//	│   pid namespace; the Go helper → execve → the exec'd command
//	├── [-p] the port helper (role portchild, nsexec ModePlain joining the
//	│   keeper's user and network namespaces; the host's pid and mount
//	│   namespaces): dials the sandbox's ports for rootlesskit's driver
//	└── [network] slirp4netns or pasta, entering through the keeper's
//	    /proc/PID/ns (the init is not dumpable)
//
// Removal of a stopped sandbox (usandbox rm) runs in a copy of the binary
// in the user namespace (role remove, nsexec ModePlain); doctor's probes
// in a throwaway one (role probe).
//
// # The protocols, in the order a sandbox meets them
//
//   - detach (setup.go): starter → monitor, Detach; monitor → starter,
//     Detached.
//   - nsexec (nsexec.go): parent ↔ C stage, Config, MapMe, Mapped or
//     Abort, ChildPID or Error; then LifelineGo on the init's lifeline.
//   - setup (setup.go): parent → setup or exec helper, spec.Spec; back,
//     SetupMessage: pty, started or error.
//   - port child (setup.go): driver → helper, PortChildConfig.
//   - lean (lean.go): monitor → lean monitor, Monitor; the lean monitor
//     ends by executing the finish step with the status.
//
// The C code copies none of it by hand: package internal/proto/cgen
// writes the headers nsexec/proto_gen.h and sandbox/lean/proto_gen.h from
// these declarations (go generate ./...), the JSON encodings included,
// checked against json.Marshal; a test fails when a committed header is
// stale. C writes its frames with snprintf of those formats, and parses
// a frame it reads with generated matchers, refusing anything that is not
// byte for byte the encoding json.Marshal gives.
package proto

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind names a message: every message's first field, "kind".
type Kind string

// Exit statuses of the C stages.
const (
	// ExitFailed is the status of a C stage that failed: usandbox's own
	// failure, as for the command line.
	ExitFailed = 125
	// ExitKilled is a sandbox's status when its watcher is gone (the
	// init's lifeline closed) or the status is unknown: as if killed
	// (128+SIGKILL).
	ExitKilled = 128 + int(unix.SIGKILL)
)

// MaxCFrame bounds the body of a frame that a C stage reads or writes:
// its buffers have this size.
const MaxCFrame = 1024

// CheckStrings says whether C can parse message v's strings: each field
// with a `c:"SIZE"` tag (the size of its C array) must be non-empty,
// shorter than SIZE, printable ASCII, and need no escape in JSON (C takes
// no escapes).
func CheckStrings(v any) error {
	t, val := reflect.TypeOf(v), reflect.ValueOf(v)
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("c")
		if tag == "" || t.Field(i).Type.Kind() != reflect.String {
			continue
		}
		size, err := strconv.Atoi(tag)
		if err != nil {
			return fmt.Errorf("%s.%s: bad c tag %q", t.Name(), t.Field(i).Name, tag)
		}
		s := val.Field(i).String()
		b, err := json.Marshal(s)
		if err != nil || string(b) != `"`+s+`"` || s == "" || len(s) >= size || strings.IndexFunc(s, func(r rune) bool { return r > 0x7e }) >= 0 {
			return fmt.Errorf("%s.%s %q: C takes 1 to %d bytes of printable ASCII that JSON does not escape", t.Name(), t.Field(i).Name, s, size-1)
		}
	}
	return nil
}
