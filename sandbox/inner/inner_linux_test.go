package inner

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckNotDumpable(t *testing.T) {
	if err := checkNotDumpable(); err == nil {
		t.Error("a dumpable test process passed checkNotDumpable")
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0)
	if err := checkNotDumpable(); err != nil {
		t.Error(err)
	}
}
