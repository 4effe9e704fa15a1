package index

import "testing"

func TestNameMatches(t *testing.T) {
	tests := []struct {
		stored, typed string
		want          bool
	}{
		{"docker.io/library/busybox:latest", "busybox", true},
		{"docker.io/library/busybox:latest", "busybox:latest", true},
		{"docker.io/library/busybox:latest", "library/busybox", true},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", true},
		{"docker.io/library/busybox:latest", "busybox:1", false},
		{"localhost/busybox:latest", "busybox", true},
		{"127.0.0.1:5000/busybox:latest", "busybox", true},
		{"127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox", true},
		{"localhost/mybusybox:latest", "busybox", false},
		{"localhost/debian:bookworm", "debian:bookworm", true},
		{"localhost/debian:bookworm", "debian", false},
	}
	for _, tt := range tests {
		if got := NameMatches(tt.stored, tt.typed); got != tt.want {
			t.Errorf("NameMatches(%q, %q) = %v", tt.stored, tt.typed, got)
		}
	}
}
