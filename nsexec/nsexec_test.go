package nsexec

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/wire"
)

// report is what a copy says about itself, on the socket.
type report struct {
	Role   string `json:"role"`
	UID    int    `json:"uid"`
	Pid    int    `json:"pid"`
	Echo   string `json:"echo"`
	Socket bool   `json:"socket"` // fd 3 is still open
}

// TestMain is also the copies' main: nsexec.Conn says which it is.
func TestMain(m *testing.M) {
	if conn, ok := Conn(); ok {
		var in struct{ Say string }
		if err := recvOne(conn, &in); err != nil {
			os.Exit(3)
		}
		r := report{Role: os.Getenv(role.Env), UID: os.Getuid(), Pid: os.Getpid(), Echo: in.Say, Socket: true}
		if err := wire.Send(conn, r); err != nil {
			os.Exit(4)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "plain-copy" {
		// The userns role: no socket, no role; say so by exit status.
		// (The Go runtime may have opened something else as fd 3.)
		l, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", proto.ConnFD))
		if _, set := os.LookupEnv(role.Env); set || strings.HasPrefix(l, "socket:") {
			fmt.Fprintf(os.Stderr, "role set: %v, fd %d: %s\n", set, proto.ConnFD, l)
			os.Exit(5)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mapSelf maps root in pid's user namespace to this process's ids, as
// userns.Plan does in its Single mode.
func mapSelf(pid int) error {
	dir := fmt.Sprintf("/proc/%d/", pid)
	for _, f := range []struct{ name, data string }{
		{"setgroups", "deny"},
		{"uid_map", fmt.Sprintf("0 %d 1\n", os.Getuid())},
		{"gid_map", fmt.Sprintf("0 %d 1\n", os.Getgid())},
	} {
		if err := os.WriteFile(dir+f.name, []byte(f.data), 0); err != nil {
			return err
		}
	}
	return nil
}

// needUserNS skips a test on a host that cannot make user namespaces.
func needUserNS(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		t.Skip("no user namespaces in this kernel (/proc/self/ns/user)")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" && os.Getuid() != 0 {
		t.Skip("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)")
	}
}

func talk(t *testing.T, c *Child) report {
	t.Helper()
	if err := wire.Send(c.Conn, struct{ Say string }{"hello"}); err != nil {
		t.Fatal(err)
	}
	var r report
	if _, err := wire.Recv(c.Conn, &r); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("copy: %v %v", st, err)
	}
	return r
}

func TestStartPlain(t *testing.T) {
	needUserNS(t)
	c, err := Start(Config{Role: role.Remove, Args: []string{"copy"}, Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, MapIDs: mapSelf, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	if r := talk(t, c); r.Role != string(role.Remove) || r.UID != 0 || r.Echo != "hello" {
		t.Fatalf("copy says %+v", r)
	}
}

func TestStartFork(t *testing.T) {
	needUserNS(t)
	c, err := Start(Config{Role: role.Exec, Args: []string{"copy"}, Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID, MapIDs: mapSelf, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	if r := talk(t, c); r.Role != string(role.Exec) || r.UID != 0 || r.Pid != 1 {
		t.Fatalf("copy says %+v (want pid 1 of its pid namespace)", r)
	}
}

// The userns role's copy is the command line again: no socket, no role.
func TestStartClears(t *testing.T) {
	needUserNS(t)
	c, err := Start(Config{Role: role.UserNS, Args: []string{"copy", "plain-copy"}, Flags: unix.CLONE_NEWUSER, MapIDs: mapSelf, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("copy: %v %v (exit 5: it kept the socket or the role)", st, err)
	}
}

func TestStartMapFails(t *testing.T) {
	needUserNS(t)
	_, err := Start(Config{Role: role.Remove, Args: []string{"copy"}, Flags: unix.CLONE_NEWUSER,
		MapIDs: func(int) error { return errors.New("no map today") }})
	if err == nil || err.Error() != "no map today" {
		t.Fatalf("Start: %v", err)
	}
}

// A failed step comes back as data.
func TestStartStepError(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Start(Config{Role: role.PortChild, Args: []string{"copy"}, Flags: unix.CLONE_NEWNET, Join: f})
	var se *StepError
	if !errors.As(err, &se) || se.Step != proto.StepJoin || se.Errno != syscall.EINVAL {
		t.Fatalf("Start joining /dev/null: %v", err)
	}
	if !strings.Contains(err.Error(), "joining the sandbox's namespaces") {
		t.Fatalf("error %q does not name the step", err)
	}
}

func TestStartRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{Role: role.Monitor, Args: []string{"copy"}},
		{Role: role.CLI, Args: []string{"copy"}},
		{Role: role.Sandbox, Args: []string{"copy"}},
		{Role: role.Exec, Args: []string{"copy"}, Sandbox: &SandboxConfig{}},
	} {
		if _, err := Start(cfg); err == nil {
			t.Errorf("Start(%+v) started", cfg)
		}
	}
}

func recvOne(conn *os.File, v any) error {
	_, err := wire.Recv(conn, v)
	return err
}
