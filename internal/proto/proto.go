// Package proto is what usandbox's C stages share with Go: the messages
// that package nsexec's constructor and the lean monitor (package
// sandbox/lean) exchange with their Go parents, one Go type per protocol
// step, each one internal/wire frame (a 4-byte big-endian length, then
// JSON); and every constant the C code uses (roles, exit codes, fd
// numbers, file names, signals).
//
// The C code copies none of it by hand: package internal/proto/cgen
// writes the headers nsexec/proto_gen.h and sandbox/lean/proto_gen.h from
// these declarations (go generate ./...), the JSON encodings included,
// checked against json.Marshal; a test fails when a committed header is
// stale. C writes its frames with snprintf of those formats, and parses
// a frame it reads with sscanf and prints it back, refusing anything that
// is not byte for byte the encoding json.Marshal gives.
package proto

import "golang.org/x/sys/unix"

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
