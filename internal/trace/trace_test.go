package trace

import (
	"testing"
	"time"
)

// A child's marks are on its first process's time line: the variable
// carries that start; the user's "1" means now.
func TestStartTime(t *testing.T) {
	if got := startTime("1"); time.Since(got) > time.Second || time.Since(got) < 0 {
		t.Errorf(`startTime("1") = %v, want now`, got)
	}
	want := time.Unix(0, 1796282892648913000)
	if got := startTime("1796282892648913000"); !got.Equal(want) {
		t.Errorf("startTime: %v, want %v", got, want)
	}
	if got := startTime("yes"); time.Since(got) > time.Second {
		t.Errorf(`startTime("yes") = %v, want now`, got)
	}
	on, start = true, want
	defer func() { on = false }()
	if got := Env(); got != "USANDBOX_TRACE=1796282892648913000" {
		t.Errorf("Env() = %q", got)
	}
}
