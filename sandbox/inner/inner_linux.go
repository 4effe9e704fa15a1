// Package inner is the sandbox's init: pid 1 of the sandbox's pid
// namespace, started by package sandbox through nsexec already inside the
// sandbox's namespaces. It builds the root filesystem, hardens the
// sandbox, starts the command, then stays as init: it forwards signals,
// reaps orphans and exits with the command's status. Being pid 1 is what
// lets a SIGTERM end a command that installs no handler (exit 143).
package inner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"usandbox/internal/trace"
	"usandbox/sandbox/lean"
	"usandbox/sandbox/spec"
)

// setupError is a failure before the command runs, with its exit status.
type setupError struct {
	code int
	err  error
}

func (e *setupError) Error() string { return e.err.Error() }

func fail(err error) error { return &setupError{125, err} }

// Signals forwarded to the command. SIGCHLD is the init's own.
var forwarded = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGALRM, unix.SIGPIPE}

// Main runs the init; conn is the socket to the usandbox parent. It
// returns the exit status.
func Main(conn *os.File) int {
	// The capability bounding set and no_new_privs are per thread, and a
	// child inherits them from the thread that forks it: setup and the
	// fork of the command all happen on this one thread.
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("usandbox-init\x00")[0])), 0, 0, 0)
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, append(forwarded, unix.SIGCHLD)...)

	trace.Mark("init", "Go runtime up")
	var s spec.Spec
	if _, err := spec.Recv(conn, &s); err != nil {
		// The parent is gone: nobody to report to.
		return 125
	}
	// Non-dumpable from here on: /proc/1/{exe,mem,fd,environ} of this
	// process (the usandbox binary) are out of reach of the sandbox's
	// root, which closes the /proc/self/exe class of escapes
	// (CVE-2019-5736). Until the spec came, the parent's network drivers
	// needed /proc/PID/ns of this process; nothing of the sandbox existed.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// Whatever this process inherited stays out of the sandbox.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)

	state, err := unix.Open(s.StateDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return report(conn, fail(fmt.Errorf("opening the sandbox state: %w", err)), -1, &s)
	}
	exe := -1
	if s.Lean {
		// This binary, for the lean init's exec after pivot_root.
		if exe, err = unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
			return report(conn, fail(fmt.Errorf("opening usandbox's binary: %w", err)), state, &s)
		}
	}
	sandboxes, err := unix.Open(filepath.Dir(s.StateDir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return report(conn, fail(fmt.Errorf("opening the sandboxes directory: %w", err)), state, &s)
	}
	cmd, err := setup(&s, conn)
	if err != nil {
		return report(conn, err, state, &s)
	}
	if err := spec.Send(conn, spec.Message{Kind: spec.KindStarted, Pid: cmd.Process.Pid}); err != nil {
		cmd.Process.Kill()
	}
	if s.Lean {
		cleanStale(sandboxes, s.ID)
		// Signals caught so far go to the command before the exec.
		for pending := true; pending; {
			select {
			case sig := <-sigs:
				if sig != unix.SIGCHLD {
					unix.Kill(cmd.Process.Pid, sig.(unix.Signal))
				}
			default:
				pending = false
			}
		}
		err := lean.Init(exe, cmd.Process.Pid, int(conn.Fd()), state, s.AutoRemove)
		// Still here: the exec failed; the Go loop serves as well.
		fmt.Fprintln(os.Stderr, "usandbox init: staying in Go:", err)
	}
	go lifeline(conn, &s, state, sandboxes)
	go cleanStale(sandboxes, s.ID)
	status := initLoop(cmd.Process.Pid, sigs)
	trace.Mark("init", "command exited")
	cleanup(&s, state, -1)
	trace.Mark("init", "cleaned up")
	return status
}

// report sends a setup failure to the parent. A sandbox that never ran
// leaves nothing behind, --rm or not: its upper layer goes here, the rest
// with the parent.
func report(conn *os.File, err error, state int, s *spec.Spec) int {
	code := 125
	var se *setupError
	if errors.As(err, &se) {
		code = se.code
	}
	spec.Send(conn, spec.Message{Kind: spec.KindError, Code: code, Msg: err.Error()})
	if state >= 0 {
		s.AutoRemove = true
		cleanup(s, state, -1)
	}
	return code
}

// lifeline ends the sandbox when the usandbox process that watches it
// (the foreground usandbox, or a detached sandbox's monitor) is gone: it
// held the other end of conn. Nothing may run unwatched.
func lifeline(conn *os.File, s *spec.Spec, state, sandboxes int) {
	buf := make([]byte, 64)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	if !s.AutoRemove {
		spec.WriteExit(fdPath(state), 137, false)
	}
	cleanup(s, state, sandboxes)
	// pid 1 exits: the kernel kills everything else in the sandbox.
	os.Exit(137)
}

// cleanup removes an --rm sandbox's upper layer: its files belong to the
// sandbox's IDs, which only this namespace may delete. The parent removes
// the rest of the state directory.
func cleanup(s *spec.Spec, state int, sandboxes int) {
	if !s.AutoRemove {
		return
	}
	// Let go of the overlay first.
	unix.Unmount("/", unix.MNT_DETACH)
	dir := fdPath(state)
	for _, d := range []string{"upper", "work"} {
		os.RemoveAll(dir + "/" + d)
	}
	// The rest is the parent's to remove, unless it is gone.
	if sandboxes >= 0 {
		os.RemoveAll(filepath.Join(fdPath(sandboxes), s.ID))
	}
}

func setup(s *spec.Spec, conn *os.File) (*exec.Cmd, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fail(fmt.Errorf("making mounts private: %w", err))
	}
	trace.Mark("init", "spec received")
	if s.Net != nil && s.Net.Configure {
		// Still the host's files: its ip sets the interface up.
		if err := configureInterface(s.Net); err != nil {
			return nil, fail(err)
		}
	}
	if err := mountRootfs(s); err != nil {
		return nil, fail(err)
	}
	trace.Mark("init", "overlay mounted")
	r, err := openRoot(s.Rootfs.Target)
	if err != nil {
		return nil, fail(err)
	}
	defer r.close()
	if err := setupMounts(s, r); err != nil {
		return nil, fail(err)
	}
	trace.Mark("init", "mounts done")
	if err := pivot(s.Rootfs.Target); err != nil {
		return nil, fail(err)
	}
	if err := finishMounts(s); err != nil {
		return nil, fail(err)
	}
	if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
		return nil, fail(fmt.Errorf("setting the hostname: %w", err))
	}
	if s.Network != "host" {
		if err := loopbackUp(); err != nil {
			return nil, fail(err)
		}
	}

	p := s.Process
	user, err := lookupUser(p.User)
	if err != nil {
		return nil, fail(err)
	}
	env := withDefaults(p.Env, user, p.Terminal)
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		return nil, fail(fmt.Errorf("working directory %s: %w", cwd, err))
	}
	if len(p.Args) == 0 {
		return nil, fail(errors.New("no command given and the image has none"))
	}
	path, err := lookPath(p.Args[0], env, cwd)
	if err != nil {
		return nil, err
	}

	cmd := &exec.Cmd{Path: path, Args: p.Args, Env: env, Dir: cwd}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid: true,
		// Like docker, the primary group is also a supplementary one.
		Credential: &syscall.Credential{Uid: user.UID, Gid: user.GID, Groups: append([]uint32{user.GID}, user.Groups...), NoSetGroups: s.SingleID},
	}
	if p.Terminal {
		tty, err := openPTY(p.Rows, p.Cols, conn)
		if err != nil {
			return nil, fail(err)
		}
		defer tty.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	}

	// Last, because they take from this process what setup needed.
	if err := limitCapabilities(s.Capabilities); err != nil {
		return nil, fail(err)
	}
	if s.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fail(fmt.Errorf("setting no_new_privs: %w", err))
		}
	}
	trace.Mark("init", "hardened, starting the command")
	if err := cmd.Start(); err != nil {
		return nil, execError(p.Args[0], err)
	}
	trace.Mark("init", "command started")
	return cmd, nil
}

func lookupUser(spec string) (*execUser, error) {
	passwd, _ := os.Open("/etc/passwd")
	group, _ := os.Open("/etc/group")
	defer passwd.Close()
	defer group.Close()
	var pr, gr = emptyIfNil(passwd), emptyIfNil(group)
	return resolveUser(spec, pr, gr)
}

func emptyIfNil(f *os.File) interface{ Read([]byte) (int, error) } {
	if f == nil {
		return strings.NewReader("")
	}
	return f
}

// DefaultPath is docker's PATH for images that set none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func withDefaults(env []string, u *execUser, tty bool) []string {
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	out := append([]string(nil), env...)
	if !has("PATH") {
		out = append(out, "PATH="+DefaultPath)
	}
	if !has("HOME") {
		out = append(out, "HOME="+u.Home)
	}
	if tty && !has("TERM") {
		out = append(out, "TERM=xterm")
	}
	return out
}

func getenv(env []string, k string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], k+"="); ok {
			return v
		}
	}
	return ""
}

// lookPath finds the command with the sandbox's PATH (not the init's).
func lookPath(name string, env []string, cwd string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", execError(name, err)
		}
		return p, nil
	}
	var firstErr error
	for _, dir := range filepath.SplitList(getenv(env, "PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, os.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", execError(name, firstErr)
	}
	return "", &setupError{127, fmt.Errorf("%q: executable file not found in $PATH", name)}
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return unix.EISDIR
	}
	if fi.Mode()&0o111 == 0 {
		return os.ErrPermission
	}
	return nil
}

// execError maps a failure to start the command to docker's statuses:
// 127 not found, 126 found but not executable.
func execError(name string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound):
		return &setupError{127, fmt.Errorf("%q: no such file or directory", name)}
	case errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOEXEC):
		return &setupError{126, fmt.Errorf("%q: permission denied or not an executable", name)}
	}
	return &setupError{126, fmt.Errorf("%q: %w", name, err)}
}

// openPTY creates a pty in the sandbox's own devpts, sends its master to
// the parent and returns the slave.
func openPTY(rows, cols uint16, conn *os.File) (*os.File, error) {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlocking the pty: %w", err)
	}
	if rows > 0 && cols > 0 {
		unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
	// TIOCGPTPEER opens the slave from the master (no path lookup); its
	// argument is the open flags.
	r1, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	slave := int(r1)
	if errno != 0 {
		err := error(errno)
		n, err2 := unix.IoctlGetUint32(master, unix.TIOCGPTN)
		if err2 != nil {
			return nil, fmt.Errorf("opening the pty: %w", err)
		}
		slave, err = unix.Open("/dev/pts/"+strconv.Itoa(int(n)), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening the pty: %w", err)
		}
	}
	if err := spec.Send(conn, spec.Message{Kind: spec.KindPTY}, master); err != nil {
		unix.Close(slave)
		return nil, err
	}
	return os.NewFile(uintptr(slave), "pty"), nil
}

// initLoop forwards signals to the command (pid) and reaps every child
// until the command exits; it returns the command's status (128+N when
// killed by signal N).
func initLoop(pid int, sigs chan os.Signal) int {
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			unix.Kill(pid, sig.(unix.Signal))
			continue
		}
		for {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if wpid <= 0 || err != nil {
				break
			}
			if wpid == pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return 125
}

// configureInterface gives the driver's interface its address, MTU and
// default route, with the host's ip (the root filesystem is not mounted
// yet), in one exec.
func configureInterface(n *spec.NetConfig) error {
	script := fmt.Sprintf("link set %[1]s mtu %[2]d up\naddr add %[3]s/%[4]d dev %[1]s\nroute add default via %[5]s dev %[1]s\n",
		n.Dev, n.MTU, n.IP, n.Netmask, n.Gateway)
	ip := ""
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if checkExecutable(p) == nil {
			ip = p
			break
		}
	}
	if ip == "" {
		return fmt.Errorf("configuring %s: the host has no ip command (sudo apt-get install iproute2)", n.Dev)
	}
	cmd := exec.Command(ip, "-batch", "-")
	cmd.Env = []string{}
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("configuring %s: %s: %w", n.Dev, strings.TrimSpace(string(out)), err)
	}
	return nil
}
