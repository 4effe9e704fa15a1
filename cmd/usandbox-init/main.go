// Command usandbox-init is the sandbox role of usandbox in a binary of its
// own: the C stage of package nsexec (a sandbox's keeper and init) and the
// setup process (package inner), and nothing else. usandbox starts a
// sandbox from it when it is installed next to usandbox: a Go runtime
// that is a tenth of usandbox's starts in a fraction of the time, and the
// setup process's start is on the path of every `run`.
package main

import (
	"fmt"
	"os"

	"usandbox/internal/role"
	"usandbox/internal/trace"
	"usandbox/nsexec"
	"usandbox/sandbox/inner"
)

func main() {
	trace.Mark("init", "Go runtime up")
	if r := role.Current(); r != role.Sandbox {
		fmt.Fprintf(os.Stderr, "usandbox-init: %s=%s: this binary is usandbox's sandbox setup, started by usandbox only\n", role.Env, r)
		os.Exit(125)
	}
	conn, ok := nsexec.Conn()
	if !ok {
		fmt.Fprintln(os.Stderr, "usandbox-init: not started through nsexec")
		os.Exit(125)
	}
	os.Exit(inner.Main(conn))
}
