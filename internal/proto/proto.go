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
