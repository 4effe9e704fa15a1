//go:build linux

package sandbox

import (
	"testing"

	"usandbox/sandbox/spec"
)

// TestVolumes: inspect's Mounts are the user's, not the files usandbox
// binds from the sandbox's etc directory.
func TestVolumes(t *testing.T) {
	s := &spec.Spec{StateDir: "/store/sandboxes/abc", Mounts: []spec.Mount{
		{Type: "bind", Source: "/store/sandboxes/abc/etc/hosts", Destination: "/etc/hosts"},
		{Type: "bind", Source: "/store/sandboxes/abc/etc/containerenv", Destination: "/run/.containerenv"},
		{Type: "bind", Source: "/home/u/src", Destination: "/src"},
		{Type: "tmpfs", Destination: "/tmp"},
		{Type: "tmpfs", Destination: "/run", Generated: true},
	}}
	got := Volumes(s)
	if len(got) != 2 || got[0].Destination != "/src" || got[1].Destination != "/tmp" {
		t.Fatalf("got %+v", got)
	}
}
