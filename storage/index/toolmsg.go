package index

import "encoding/json"

// ToolMessage is one line usandbox-image writes on stdout with --json,
// for package lifecycle, which runs it for the Docker Engine API (the
// usandbox binary does not link containers/image): a pull's progress, a
// command's result, or its failure.
//
//	pull:        note* (start progress* done|abort | skip)* finish image | error
//	rmi:         removed | error
//	tag:         (nothing) | error
//	image-prune: pruned | error
//	push:        (start progress* done|abort | skip)* finish image | error
//	load:        (start progress* done|abort | skip)* finish loaded | error
//	login:       (nothing) | error
type ToolMessage struct {
	Kind string `json:"kind"`
	// Layer is a blob's digest (start, skip, progress, done, abort).
	Layer string `json:"layer,omitempty"`
	// Size is the blob's size (start); Current what was read (progress).
	Size    int64 `json:"size,omitempty"`
	Current int64 `json:"current,omitempty"`
	// Message: note, finish, error.
	Message string `json:"message,omitempty"`
	// ErrorKind classifies an error: ToolNotFound, ToolInvalid,
	// ToolConflict, or "".
	ErrorKind string `json:"errorKind,omitempty"`
	// Image: the pulled image's ID and manifest digest.
	ID     string `json:"id,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Untagged and Deleted (removed); IDs and Freed (pruned).
	Untagged []string `json:"untagged,omitempty"`
	Deleted  string   `json:"deleted,omitempty"`
	IDs      []string `json:"ids,omitempty"`
	Freed    int64    `json:"freed,omitempty"`
	// Config is an image's whole config (image-config).
	Config json.RawMessage `json:"config,omitempty"`
	// Names: the images loaded (load), each a name or "sha256:ID".
	Names []string `json:"names,omitempty"`
	// Tag: the tag pushed to (push's image).
	Tag string `json:"tag,omitempty"`
}

// ToolMessage kinds.
const (
	ToolNote     = "note"
	ToolStart    = "start"
	ToolSkip     = "skip"
	ToolProgress = "progress"
	ToolDone     = "done"
	ToolAbort    = "abort"
	ToolFinish   = "finish"
	ToolImage    = "image"
	ToolRemoved  = "removed"
	ToolPruned   = "pruned"
	ToolLoaded   = "loaded"
	ToolError    = "error"
)

// ToolMessage error kinds.
const (
	ToolNotFound = "notfound"
	ToolInvalid  = "invalid"
	ToolConflict = "conflict"
	// ToolUnauthorized: the registry refused the credentials, or wants some.
	ToolUnauthorized = "unauthorized"
)
