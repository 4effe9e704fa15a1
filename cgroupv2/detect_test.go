package cgroupv2

import (
	"strings"
	"testing"
)

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"0::/user.slice/user-1000.slice/session-1.scope\n", "/user.slice/user-1000.slice/session-1.scope", false},
		{"12:pids:/\n11:memory:/\n1:name=systemd:/\n0::/\n", "/", false},
		{"12:pids:/\n11:memory:/\n", "", true},
	}
	for _, tt := range tests {
		got, err := ParseProcCgroup(strings.NewReader(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseProcCgroup(%q) = %q, %v", tt.in, got, err)
		}
	}
}
