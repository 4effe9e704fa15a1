package storage

import (
	"errors"
	"testing"
)

func TestTagName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"t1", "localhost/t1:latest"},
		{"t2:v2", "localhost/t2:v2"},
		{"me/t3", "localhost/me/t3:latest"},
		{"localhost/t4:x", "localhost/t4:x"},
		{"quay.io/a/b", "quay.io/a/b:latest"},
		{"reg:5000/a:1", "reg:5000/a:1"},
		{"docker.io/busybox", "docker.io/library/busybox:latest"},
		{"BAD NAME", ""},
		{"Upper", ""},
		{"a@sha256:0123456789012345678901234567890123456789012345678901234567890123", ""},
	} {
		got, err := TagName(c.in)
		if got != c.want || (c.want == "") != errors.Is(err, ErrInvalidName) {
			t.Errorf("TagName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
