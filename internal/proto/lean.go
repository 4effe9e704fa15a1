package proto

// The lean monitor's protocol: one frame, Monitor, on fd LeanConfigFD of
// the process that package sandbox/lean re-executes with role
// role.LeanMonitor. The C loop reads it before anything else and
// answers nothing: it ends by executing the finish step (role
// role.Finish) with the init's exit status as its argument.
//
//	monitor (Go)                          lean monitor (C constructor)
//	------------                          ----------------------------
//	Monitor --> pipe on LeanConfigFD
//	exec /proc/self/exe ----------------> reads Monitor; logs, waits
//	                                      exec /proc/self/exe STATUS (role finish)
const KindMonitor Kind = "monitor"

// LeanConfigFD is where the lean monitor reads Monitor: its stdin, which
// a detached sandbox's monitor has no other use for (/dev/null).
const LeanConfigFD = 0

// Monitor is what the lean monitor watches. Fds are its own, -1 when
// absent; names are relative to its working directory (the sandbox's).
type Monitor struct {
	Kind Kind `json:"kind"`
	// Init and Keeper are the pids of the sandbox's init (whose status
	// is the command's) and of its keeper (0: none), both its children.
	Init   int32 `json:"init"`
	Keeper int32 `json:"keeper"`
	// Stdout and Stderr are the command's output, to be logged.
	Stdout int32 `json:"stdout"`
	Stderr int32 `json:"stderr"`
	// Log is the log file, LogName, rotated to RotatedName once it would
	// pass LogMax bytes (0: never).
	Log         int32  `json:"log"`
	LogMax      int64  `json:"logMax"`
	LogName     string `json:"logName" c:"256"`
	RotatedName string `json:"rotatedName" c:"256"`
}
