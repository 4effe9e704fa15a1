// Package trace prints how long the steps of a sandbox start take, to
// stderr, when USANDBOX_TRACE is set: the tool for finding where the
// milliseconds of `run` go. It costs one getenv when off.
package trace

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// The variable is "1" from the user; a child gets the first process's
// start in Unix nanoseconds (Env), so that all of a start's marks are on
// one time line, from the command's first instruction of Go.
const envName = "USANDBOX_TRACE"

var (
	on    = os.Getenv(envName) != ""
	start = startTime(os.Getenv(envName))
)

func startTime(v string) time.Time {
	if ns, err := strconv.ParseInt(v, 10, 64); err == nil && ns > 1 {
		return time.Unix(0, ns)
	}
	return time.Now()
}

// Enable turns tracing on (--log-level debug), for this process and,
// through USANDBOX_TRACE, the children it starts from now on.
func Enable() {
	on = true
	// Setenv fails only for a key with "=" or a NUL in it.
	_ = os.Setenv(envName, Env()[len(envName)+1:])
}

// Enabled reports whether tracing is on (pass it on to children).
func Enabled() bool { return on }

// Env is the environment entry that turns tracing on in a child, on this
// process's time line; "" when tracing is off.
func Env() string {
	if !on {
		return ""
	}
	return envName + "=" + strconv.FormatInt(start.UnixNano(), 10)
}

// Mark prints the time since the first process started and what was
// reached.
func Mark(who, what string) {
	if on {
		fmt.Fprintf(os.Stderr, "trace %-6s %7.2f ms  %s\n", who, float64(time.Since(start).Microseconds())/1000, what)
	}
}
