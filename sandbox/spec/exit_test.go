package spec

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// fullDiskEnv marks the re-executed test binary that runs
// TestExitRecordOnFullDisk's body in a user and mount namespace of its
// own, where it may mount a small tmpfs.
const fullDiskEnv = "_USANDBOX_SPEC_TEST_FULL_DISK"

// TestExitRecordOnFullDisk: the exit record of a sandbox whose store
// filled up while it ran is its command's status (ps -a said Exited (137)
// for a command that exited 3: the record could not be written).
func TestExitRecordOnFullDisk(t *testing.T) {
	if os.Getenv(fullDiskEnv) == "" {
		c := exec.Command(os.Args[0], "-test.run=^TestExitRecordOnFullDisk$", "-test.v")
		c.Env = append(os.Environ(), fullDiskEnv+"=1")
		c.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
		out, err := c.CombinedOutput()
		if err != nil && len(out) == 0 {
			t.Skipf("this host cannot make an unprivileged user namespace for a small tmpfs: %v", err)
		}
		t.Logf("%s", out)
		if err != nil {
			t.Fatal("failed in its namespace")
		}
		return
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs in a user namespace: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	// A sandbox starts: the exit record is reserved.
	if err := ReserveExit(dir); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := ReadExit(dir); ok {
		t.Fatal("the reserved record reads as an exit")
	}
	// The command fills the store, then exits 3.
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	if err := WriteExit(dir, 3, false); err != nil {
		t.Fatalf("recording the exit on a full disk: %v", err)
	}
	code, _, oom, ok := ReadExit(dir)
	if !ok || code != 3 || oom {
		t.Fatalf("exit record: code %d oom %v ok %v, want 3", code, oom, ok)
	}
	// The first writer wins.
	if err := WriteExit(dir, 137, true); err != nil {
		t.Fatal(err)
	}
	if code, _, _, _ := ReadExit(dir); code != 3 {
		t.Fatalf("a second writer replaced the record: %d", code)
	}
}

func TestReadExit(t *testing.T) {
	for _, tt := range []struct {
		in   string
		code int
		oom  bool
		ok   bool
	}{
		{"3 1700000000000000000\n", 3, false, true},
		{"137 1700000000000000000 oom\n", 137, true, true},
		{"0 1700000000000000000                                          \n", 0, false, true},
		{exitPending, 0, false, false},
		{"", 0, false, false},
		{"3", 0, false, false},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ExitFile), []byte(tt.in), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, oom, ok := ReadExit(dir)
		if code != tt.code || oom != tt.oom || ok != tt.ok {
			t.Errorf("%q: got %d %v %v, want %d %v %v", tt.in, code, oom, ok, tt.code, tt.oom, tt.ok)
		}
	}
}

// TestWriteExitConcurrentNoReservation: writers of a sandbox without a
// reserved record (one started by an older usandbox) each write a whole
// new record; none fails for another's temporary file, and what is left is
// one of theirs.
func TestWriteExitConcurrentNoReservation(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = WriteExit(dir, 10+i, false)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, writer %d: %v", round, i, err)
			}
		}
		code, _, _, ok := ReadExit(dir)
		if !ok || code < 10 || code >= 10+len(errs) {
			t.Fatalf("round %d: record %d %v, want one writer's", round, code, ok)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("round %d: %d files left, want the record only", round, len(ents))
		}
	}
}
