package userns

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/sigproxy"
	"usandbox/nsexec"
)

// Environment of the copy started by Reexec.
const (
	envMode = "_USANDBOX_USERNS_MODE"
	// containers/storage decides "rootless" from these: inside the
	// namespace we are uid 0, yet must store layers the rootless way.
	envStorageConfigured = "_CONTAINERS_USERNS_CONFIGURED"
	envStorageUID        = "_CONTAINERS_ROOTLESS_UID"
	envStorageGID        = "_CONTAINERS_ROOTLESS_GID"
)

// Reexec runs this binary again, with the same arguments, in a new user
// and mount namespace mapped by p, forwards signals to it and returns its
// exit status (128+N when killed by signal N).
func (p *Plan) Reexec() (int, error) { return p.ReexecArgs(os.Args) }

// ReexecArgs is Reexec with other arguments (args[0] included).
func (p *Plan) ReexecArgs(args []string) (int, error) { return p.ReexecRole(role.UserNS, args) }

// ReexecRole is ReexecArgs for a copy in role r (role.UserNS, the command
// line again; role.Remove), which its dispatcher finds with role.Current.
func (p *Plan) ReexecRole(r role.Role, args []string) (int, error) {
	env := append(os.Environ(),
		envMode+"="+p.Mode.String(),
		envStorageConfigured+"=1",
		envStorageUID+"="+strconv.FormatUint(uint64(p.UID), 10),
		envStorageGID+"="+strconv.FormatUint(uint64(p.GID), 10),
	)
	sigs := sigproxy.Listen()
	defer sigs.Stop()

	c, err := nsexec.Start(nsexec.Config{
		Role:   r,
		Args:   args,
		Env:    env,
		Flags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		MapIDs: p.Apply,
		Stdin:  os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
	if err != nil {
		return 0, p.explain(err)
	}
	sigs.Forward(c.Signal)
	st, err := c.Wait()
	sigs.Stop()
	if err != nil {
		return 0, err
	}
	return ExitStatus(st), nil
}

// ExitStatus is the shell's view of a process state: the exit code, or
// 128+N when killed by signal N.
func ExitStatus(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// explain turns a failure to create the namespace into a fix.
func (p *Plan) explain(err error) error {
	var se *nsexec.StepError
	if e, ok := err.(*nsexec.StepError); ok {
		se = e
	}
	if se != nil && se.Step == proto.StepUserNS {
		switch se.Errno {
		case unix.ENOSPC:
			return &HostError{Cause: "the user namespace limit is reached (user.max_user_namespaces)", Fix: "sudo sysctl -w user.max_user_namespaces=28633"}
		case unix.EPERM:
			return &HostError{Cause: "the kernel refused to create a user namespace (running inside a container that forbids nesting, or a security module)", Fix: "run usandbox on the host, or allow unprivileged user namespaces (see usandbox doctor)"}
		}
	}
	return fmt.Errorf("entering the user namespace: %w", err)
}

// InNamespace reports whether this process is a copy started by Reexec,
// and in which mode. It must be called before anything reads the
// environment variables of containers/storage.
func InNamespace() (Mode, bool) {
	switch os.Getenv(envMode) {
	case "full":
		return Full, true
	case "single":
		return Single, true
	}
	return Root, false
}

// HostUID is the uid of the user on the host, also inside a namespace
// entered by Reexec (where os.Getuid is 0).
func HostUID() int {
	if _, inside := InNamespace(); inside {
		if n, err := strconv.Atoi(os.Getenv(envStorageUID)); err == nil {
			return n
		}
	}
	return os.Getuid()
}
