//go:build !seccomp || !cgo

package seccomp

// Without the "seccomp" build tag (or without cgo), runc's
// libcontainer/seccomp compiles to a stub that accepts every profile and
// fails only when a sandbox starts. Break the build here instead, so a
// binary without seccomp support is never produced by accident: build with
// -tags=seccomp and CGO_ENABLED=1 (the Makefile does), with libseccomp-dev
// installed (hack/deps.sh).
var _ = usandbox_needs_build_tag_seccomp_and_cgo
