// Package trace prints how long the steps of a sandbox start take, to
// stderr, when USANDBOX_TRACE is set: the tool for finding where the
// milliseconds of `run` go. It costs one getenv when off.
package trace

import (
	"fmt"
	"os"
	"time"
)

var (
	on    = os.Getenv("USANDBOX_TRACE") != ""
	start = time.Now()
)

// Enable turns tracing on (--log-level debug), for this process and,
// through USANDBOX_TRACE, the children it starts from now on.
func Enable() {
	on = true
	// Setenv fails only for a key with "=" or a NUL in it.
	_ = os.Setenv("USANDBOX_TRACE", "1")
}

// Enabled reports whether tracing is on (pass it on to children).
func Enabled() bool { return on }

// Mark prints the time since the process started and what was reached.
func Mark(who, what string) {
	if on {
		fmt.Fprintf(os.Stderr, "trace %-6s %7.2f ms  %s\n", who, float64(time.Since(start).Microseconds())/1000, what)
	}
}
