package index

import "encoding/json"

// LayerRequest is what usandbox-image's commit-layer reads on stdin: make
// an image from a parent image, a new layer and a config. The layer is a
// sandbox's upper directory (commit, a build's RUN), or files copied over
// the parent's root (a build's COPY and ADD), or nothing (a config-only
// image at the end of a build stage).
//
//	commit-layer: image | error
type LayerRequest struct {
	// Parent is the parent image's ID; "" for none (FROM scratch).
	Parent string `json:"parent,omitempty"`
	// Upper is a sandbox's upper directory, Lowers the directories of
	// the layers below it, top first (to tell overlay's opaque
	// directories).
	Upper  string   `json:"upper,omitempty"`
	Lowers []string `json:"lowers,omitempty"`
	// Tar is a file holding the new layer as a tar archive, compressed
	// or not (import).
	Tar string `json:"tar,omitempty"`
	// Copies are applied, in order, over the parent's root.
	Copies []CopyOp `json:"copies,omitempty"`
	// Config is the new image's OCI config (rootfs is filled in).
	Config json.RawMessage `json:"config"`
	// Changes are Dockerfile instructions (commit --change) applied to
	// Config.
	Changes []string `json:"changes,omitempty"`
	// Names are the new image's names.
	Names []string `json:"names,omitempty"`
	// Commit, for a commit of a sandbox, makes Config only the
	// sandbox's settings (an image config's "config" object), laid over
	// the parent's whole config, and says what its history entry holds.
	Commit *CommitInfo `json:"commit,omitempty"`
	// Intermediate marks a build step's image (storage.NewImage).
	Intermediate bool `json:"intermediate,omitempty"`
}

// CommitInfo is the history entry of a committed sandbox.
type CommitInfo struct {
	Author    string `json:"author,omitempty"`
	Comment   string `json:"comment,omitempty"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// CopyOp is one COPY or ADD of a build.
type CopyOp struct {
	// Context is the host directory the sources are in (the build
	// context, or a downloaded file's directory); FromImage instead is
	// the ID of an image whose root they are in (COPY --from).
	Context   string `json:"context,omitempty"`
	FromImage string `json:"fromImage,omitempty"`
	// Src are the sources, relative to Context or the image's root; they
	// may hold wildcards.
	Src []string `json:"src"`
	// Dest is the absolute destination in the new root; a trailing "/"
	// makes it a directory.
	Dest string `json:"dest"`
	// Chown is USER[:GROUP], names resolved in the new root; "" is 0:0
	// for the context's files, the owners as they are for an image's.
	Chown string `json:"chown,omitempty"`
	// Chmod is an octal mode for what is copied.
	Chmod string `json:"chmod,omitempty"`
	// Excludes are .dockerignore patterns for the context's files.
	Excludes []string `json:"excludes,omitempty"`
	// Extract unpacks local tar archives into Dest (ADD).
	Extract bool `json:"extract,omitempty"`
	// Rename names a single copied file (a download) in Dest.
	Rename string `json:"rename,omitempty"`
}
