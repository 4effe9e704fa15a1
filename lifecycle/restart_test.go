package lifecycle

import (
	"testing"
	"time"
)

func TestParseRestart(t *testing.T) {
	for _, c := range []struct {
		in     string
		rm     bool
		policy string
		max    int
		err    bool
	}{
		{"", false, "", 0, false},
		{"no", true, "no", 0, false},
		{"always", false, "always", 0, false},
		{"unless-stopped", false, "unless-stopped", 0, false},
		{"on-failure", false, "on-failure", 0, false},
		{"on-failure:3", false, "on-failure", 3, false},
		{"on-failure:0", false, "", 0, true},
		{"on-failure:-1", false, "", 0, true},
		{"on-failure:x", false, "", 0, true},
		{"always:2", false, "", 0, true},
		{"sometimes", false, "", 0, true},
		{"always", true, "", 0, true},
		{"on-failure", true, "", 0, true},
	} {
		p, max, err := ParseRestart(c.in, c.rm)
		if c.err {
			if err == nil || Kind(err) != ErrInvalid {
				t.Errorf("ParseRestart(%q, rm=%v) = %q, %d, %v: want an ErrInvalid", c.in, c.rm, p, max, err)
			}
			continue
		}
		if err != nil || p != c.policy || max != c.max {
			t.Errorf("ParseRestart(%q, rm=%v) = %q, %d, %v", c.in, c.rm, p, max, err)
		}
	}
}

func TestRestartDue(t *testing.T) {
	for _, c := range []struct {
		policy           string
		max, done, code  int
		stopped, restart bool
	}{
		{"no", 0, 0, 1, false, false},
		{"", 0, 0, 1, false, false},
		{"on-failure", 0, 5, 1, false, true},
		{"on-failure", 0, 0, 0, false, false},
		{"on-failure", 2, 1, 3, false, true},
		{"on-failure", 2, 2, 3, false, false},
		{"always", 0, 9, 0, false, true},
		{"always", 0, 0, 0, true, false},
		{"unless-stopped", 0, 0, 137, false, true},
		{"unless-stopped", 0, 0, 137, true, false},
	} {
		if got := restartDue(c.policy, c.max, c.done, c.code, c.stopped); got != c.restart {
			t.Errorf("restartDue(%q, max %d, done %d, code %d, stopped %v) = %v", c.policy, c.max, c.done, c.code, c.stopped, got)
		}
	}
}

func TestRestartDelay(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		restarts int
		ran      time.Duration
		want     time.Duration
	}{
		{0, 0, 100 * ms}, {1, 0, 200 * ms}, {3, time.Second, 800 * ms},
		{12, 0, time.Minute}, {12, 10 * time.Second, 100 * ms},
	} {
		if got := restartDelay(c.restarts, c.ran); got != c.want {
			t.Errorf("restartDelay(%d, %v) = %v, want %v", c.restarts, c.ran, got, c.want)
		}
	}
}
