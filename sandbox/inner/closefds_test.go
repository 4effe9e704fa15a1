package inner

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/wire"
	"usandbox/sandbox/spec"
)

// TestCloseInheritedAnonInodes: an inherited pidfd (of a host process:
// pidfd_getfd would take its files) is closed; an inherited anonymous
// inode of another kind (the Go runtime's epoll and eventfd are such) is
// kept for setup but does not survive the command's exec.
func TestCloseInheritedAnonInodes(t *testing.T) {
	if os.Getenv("_INNER_TEST_CLOSE") == "1" {
		closeHelper()
		return
	}
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("this kernel has no pidfd_open: %v", err)
	}
	efd, err := unix.Eventfd(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(os.Args[0], "-test.run=^TestCloseInheritedAnonInodes$")
	c.Env = append(os.Environ(), "_INNER_TEST_CLOSE=1")
	c.ExtraFiles = []*os.File{os.NewFile(uintptr(pidfd), "pidfd"), os.NewFile(uintptr(efd), "eventfd")}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "pidfd=closed eventfd=cloexec") {
		t.Fatalf("after closeInherited: %s", out)
	}
}

// closeHelper runs closeInherited with fd 3 a pidfd and fd 4 an eventfd,
// both inherited (not close-on-exec), and says what became of them.
func closeHelper() {
	if err := closeInherited(-1); err != nil {
		fmt.Println("closeInherited:", err)
		return
	}
	state := func(fd int) string {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		switch {
		case err != nil:
			return "closed"
		case flags&unix.FD_CLOEXEC != 0:
			return "cloexec"
		}
		return "inherited"
	}
	fmt.Printf("pidfd=%s eventfd=%s\n", state(3), state(4))
}

// TestServeReportsPanic: a panic in setup reaches the parent as an error
// message (one, with code 125), not as a Go trace on the command's
// stderr.
func TestServeReportsPanic(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child")
	defer parent.Close()
	defer child.Close()
	if err := wire.Send(parent, spec.Spec{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	code := serve(child, func(*spec.Spec) error { panic("boom") })
	if code != 125 {
		t.Errorf("exit status %d, want 125", code)
	}
	var m proto.SetupMessage
	if _, err := wire.Recv(parent, &m); err != nil {
		t.Fatal(err)
	}
	if m.Kind != proto.KindSetupError || m.Code != 125 || !strings.Contains(m.Msg, "boom") {
		t.Errorf("the parent got %+v", m)
	}
}
