package proto

import (
	"usandbox/internal/archive"
	"usandbox/sandbox/spec"
)

// The copy protocol (usandbox cp, export, the API's archive and export),
// between package sandbox's CopyHelper and the helper (role copy,
// package sandbox/inner's CopyMain), on the nsexec socket. The helper
// runs as root of the sandbox's user namespace with the sandbox's view:
// a running sandbox's user and mount namespaces joined through its
// keeper, or, for a stopped one, a new user namespace with the sandbox's
// ID map and a new mount namespace in which it mounts the sandbox's
// overlay. It never holds a directory of the host; every path is
// resolved inside the root (package internal/archive).
//
//	parent (host)                          helper
//	-------------                          ------
//	CopyRequest -------------------->      [stopped] mounts the overlay
//	                     <-------------    CopyReply{stat} or CopyReply{err}
//	tar stream on the helper's stdin (put) or from its stdout (get, export)
//	                     <-------------    CopyReply{done} or CopyReply{err}; exits
const (
	KindCopyRequest Kind = "copy-request"
	KindCopyReply   Kind = "copy-reply"
)

// The copy operations.
const (
	CopyStat   = "stat"
	CopyGet    = "get"
	CopyPut    = "put"
	CopyExport = "export"
)

// CopyRequest is one operation of the helper.
type CopyRequest struct {
	Kind Kind   `json:"kind"`
	Op   string `json:"op"`
	Path string `json:"path"`
	// Mount, when set, is the spec of a stopped sandbox whose root
	// filesystem the helper mounts (Rootfs, ReadOnly, StateDir).
	Mount *spec.Spec `json:"mount,omitempty"`
	// NoOverwriteDirNonDir and CopyUIDGID are docker's (put).
	NoOverwriteDirNonDir bool `json:"noOverwriteDirNonDir,omitempty"`
	CopyUIDGID           bool `json:"copyUIDGID,omitempty"`
}

// CopyReply is the helper's answer: first the path's stat (or an error),
// then, after the stream, Done (or an error).
type CopyReply struct {
	Kind Kind          `json:"kind"`
	Stat *archive.Stat `json:"stat,omitempty"`
	Done bool          `json:"done,omitempty"`
	Err  string        `json:"err,omitempty"`
	// NotFound, NotDir: Err is archive.ErrNotFound or ErrNotDir.
	NotFound bool `json:"notFound,omitempty"`
	NotDir   bool `json:"notDir,omitempty"`
}
