// Package inner runs inside a sandbox's namespaces, in Go, until the
// sandbox's command takes over: Main is the setup process of a new
// sandbox (pid 2, the first child of the C init of package nsexec), which
// builds the root filesystem and hardens the sandbox; ExecMain is the
// process that `usandbox exec` puts into a running sandbox. Both end by
// replacing themselves with the command (execve on the thread that did
// the setup), so no Go code stays in the sandbox.
//
// The invariants they keep:
//   - No host file, directory, cwd or root: every fd but stdio and the
//     socket to the parent (close-on-exec) is closed first thing, before
//     any mount or path is touched; what the setup opens itself is
//     close-on-exec. The working directory is resolved inside the root (no
//     symlink out, no /proc/self/fd magic link) and checked after chdir.
//   - Never dumpable while it holds anything of the host: the C stage made
//     the process non-dumpable before it entered the sandbox's pid
//     namespace, and every change of credentials is followed by
//     PR_SET_DUMPABLE 0 again.
//   - A fresh, empty session keyring: nothing of the caller's keys.
//   - The capability bounding set, no_new_privs and the seccomp filter are
//     set on the thread that calls execve.
//
// Every error is checked but that of close: on Linux close frees the fd
// whatever it returns, and an error only reports data lost on the way
// out; nothing the setup closes was written through (mount, O_PATH,
// directory, socket and pty fds), so there is nothing to act on.
package inner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/trace"
	"usandbox/internal/wire"
	"usandbox/network/bypass"
	"usandbox/sandbox/spec"
)

// setupError is a failure before the command runs, with its exit status.
type setupError struct {
	code int
	err  error
}

func (e *setupError) Error() string { return e.err.Error() }

func fail(err error) error { return &setupError{125, err} }

// Main runs the setup of a new sandbox; conn is the socket to the usandbox
// parent. It returns (an exit status) only on failure: on success the
// command replaces this process.
func Main(conn *os.File) int {
	trace.Mark("setup", "Go runtime up")
	return serve(conn, func(s *spec.Spec) error {
		trace.Mark("setup", "spec received")
		err := checkNotDumpable()
		if err == nil {
			err = closeInherited(int(conn.Fd()))
		}
		if err == nil && s.OCI != nil {
			return ociMain(s, conn)
		}
		if err == nil {
			err = setup(s)
		}
		if err == nil {
			err = execCommand(s, conn, true)
		}
		return err
	})
}

// serve is the one entry of the Go processes inside a sandbox (setup,
// exec): it reads the spec from conn, runs steps, and reports what went
// wrong, a panic included, to the parent, once, as data. It returns the
// exit status; steps return only on failure, having exec'd the command
// otherwise.
func serve(conn *os.File, steps func(*spec.Spec) error) (code int) {
	// The capability bounding set, no_new_privs and the seccomp filter are
	// per thread, and execve keeps those of the calling thread: setup and
	// the exec happen on this one thread.
	runtime.LockOSThread()
	var s spec.Spec
	if _, err := wire.Recv(conn, &s); err != nil {
		// The parent is gone: nobody to report to.
		return 125
	}
	defer func() {
		if r := recover(); r != nil {
			code = report(conn, fail(fmt.Errorf("usandbox's setup failed: %v", r)))
		}
	}()
	return report(conn, steps(&s))
}

// checkNotDumpable makes sure that the C stage left this process
// non-dumpable, as the setup relies on: while it holds the host's
// mounts, no process of the sandbox may ptrace it or open its
// /proc/PID files.
func checkNotDumpable() error {
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return fail(fmt.Errorf("reading the dumpable flag: %w", err))
	}
	if d != 0 {
		return fail(errors.New("the setup process is dumpable: the C stage (nsexec) must make it non-dumpable before it enters the sandbox"))
	}
	return nil
}

// report sends a failure to the parent and returns its exit status.
func report(conn *os.File, err error) int {
	code := 125
	var se *setupError
	if errors.As(err, &se) {
		code = se.code
	}
	// If the parent is gone, the exit status is all that is left.
	_ = wire.Send(conn, proto.SetupMessage{Kind: proto.KindSetupError, Code: code, Msg: err.Error()})
	return code
}

// setup builds the sandbox's root filesystem and enters it.
func setup(s *spec.Spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail(fmt.Errorf("making mounts private: %w", err))
	}
	if s.Net != nil && s.Net.Configure {
		// Still the host's files: its ip sets the interface up.
		if err := configureInterface(s.Net); err != nil {
			return fail(err)
		}
	}
	if err := mountRootfs(s); err != nil {
		return fail(err)
	}
	trace.Mark("setup", "overlay mounted")
	r, err := openRoot(s.Rootfs.Target)
	if err != nil {
		return fail(err)
	}
	err = setupMounts(s, r)
	r.close()
	if err != nil {
		return fail(err)
	}
	trace.Mark("setup", "mounts done")
	if err := pivot(s.Rootfs.Target); err != nil {
		return fail(err)
	}
	if err := finishMounts(s); err != nil {
		return fail(err)
	}
	trace.Mark("setup", "pivoted, mounts finished")
	if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
		return fail(fmt.Errorf("setting the hostname: %w", err))
	}
	if s.Network != "host" {
		if err := loopbackUp(); err != nil {
			return fail(err)
		}
	}
	trace.Mark("setup", "hostname, loopback up")
	return nil
}

// execCommand replaces this process with the sandbox's command (every
// inherited fd already closed, see closeInherited): it enters the working
// directory (created if create is set, as docker run does), joins a new
// session keyring, sets up the terminal, drops capabilities, loads the
// seccomp filter, changes to the command's user and calls execve. It
// returns only on failure.
func execCommand(s *spec.Spec, conn *os.File, create bool) error {
	p := s.Process
	user, err := lookupUser(p.User)
	if err != nil {
		return fail(err)
	}
	if len(p.GroupAdd) > 0 {
		group, err := readOptional("/etc/group")
		if err != nil {
			return fail(err)
		}
		if err := addGroups(user, p.GroupAdd, group); err != nil {
			return fail(err)
		}
	}
	if err := setRlimits(p.Rlimits); err != nil {
		return fail(err)
	}
	env := withDefaults(p.Env, user, p.Terminal)
	path, err := enterAndFind(p, env, create, "no command given and the image has none")
	if err != nil {
		return err
	}
	trace.Mark("setup", "user found, working directory entered")
	if err := newSessionKeyring(); err != nil {
		return fail(err)
	}
	if err := newSession(p, conn, nil); err != nil {
		return err
	}
	trace.Mark("setup", "keyring, session")
	// Last, because they take from this process what setup needed.
	if err := limitCapabilities(s.Capabilities); err != nil {
		return fail(err)
	}
	if s.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail(fmt.Errorf("setting no_new_privs: %w", err))
		}
	}
	trace.Mark("setup", "capabilities dropped")
	if s.Bypass {
		// Before the profile's filter, which need not allow seccomp(2)
		// and Landlock; the calls that send the listener are not
		// trapped.
		l, err := bypass.Install()
		if err != nil {
			return fail(err)
		}
		err = wire.Send(conn, proto.SetupMessage{Kind: proto.KindBypass}, int(l.Fd()))
		l.Close()
		if err != nil {
			return fail(err)
		}
	}
	if err := loadSeccomp(s); err != nil {
		return fail(err)
	}
	trace.Mark("setup", "seccomp loaded")
	if err := setUser(user, s.SingleID); err != nil {
		return fail(err)
	}
	trace.Mark("setup", "hardened, exec")
	if err := wire.Send(conn, proto.SetupMessage{Kind: proto.KindStarted}); err != nil {
		return fail(err)
	}
	err = syscall.Exec(path, p.Args, env)
	return execError(p.Args[0], err)
}

// enterWorkdir's and lookPath's step for the command of p: the working
// directory entered (created if create is set; "/" when p has none),
// then the command found with env's PATH. noArgs says why there is no
// command when p has none.
func enterAndFind(p spec.Process, env []string, create bool, noArgs string) (string, error) {
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := enterWorkdir(cwd, create); err != nil {
		return "", err
	}
	if len(p.Args) == 0 {
		return "", fail(errors.New(noArgs))
	}
	return lookPath(p.Args[0], env, cwd)
}

// newSession makes the process a session leader and, for a terminal,
// gives it a pty of the sandbox's own devpts (its master sent to the
// parent) as its controlling terminal and stdio; withTTY, when set, is
// given the slave before it is closed (an OCI container's /dev/console).
func newSession(p spec.Process, conn *os.File, withTTY func(*os.File) error) error {
	if _, err := unix.Setsid(); err != nil {
		return fail(fmt.Errorf("setsid: %w", err))
	}
	if !p.Terminal {
		return nil
	}
	tty, err := openPTY(p.Rows, p.Cols, conn)
	if err != nil {
		return fail(err)
	}
	defer tty.Close()
	if err := unix.IoctlSetInt(int(tty.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fail(fmt.Errorf("setting the controlling terminal: %w", err))
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(tty.Fd()), fd, 0); err != nil {
			return fail(fmt.Errorf("connecting the terminal: %w", err))
		}
	}
	if withTTY != nil {
		if err := withTTY(tty); err != nil {
			return fail(err)
		}
	}
	return nil
}

// closeInherited closes every fd but stdio and keep. Anonymous inodes
// other than pidfds (the Go runtime's epoll and eventfd are such) stay
// for setup, close-on-exec, so the command gets none of them; a pidfd
// goes like any file.
//
// It runs once, first, before anything else opens a file: libraries keep
// fds of their own for the life of the process (pathrs-lite, which
// resolves the mount targets and the working directory, holds a procfs
// handle it opens on first use), and closing one of those under them
// would leave them a number that the next open reuses. Every fd opened
// after it is close-on-exec, so the command gets none of them.
func closeInherited(keep int) error {
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("listing open files: %w", err)
	}
	var fds []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil {
			unix.Close(dir)
			return fmt.Errorf("listing open files: %w", err)
		}
		if n <= 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd > 2 && fd != keep && fd != dir {
				fds = append(fds, fd)
			}
		}
	}
	unix.Close(dir)
	for _, fd := range fds {
		link, err := os.Readlink(fdPath(fd))
		if errors.Is(err, unix.ENOENT) {
			continue // closed since the listing
		}
		if err != nil {
			// Not knowing what it is, it can be neither kept nor closed
			// (it may be the runtime's).
			return fmt.Errorf("inspecting fd %d: %w", fd, err)
		}
		if strings.HasPrefix(link, "anon_inode:") && link != "anon_inode:[pidfd]" {
			// Perhaps the Go runtime's (its epoll, its eventfd): kept
			// for setup, but never the command's.
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
				return fmt.Errorf("fd %d: %w", fd, err)
			}
			continue
		}
		// Everything else goes, a pidfd too: one of a host process would
		// let pidfd_getfd take that process's files.
		if err := unix.Close(fd); err != nil && err != unix.EBADF {
			return fmt.Errorf("closing fd %d: %w", fd, err)
		}
	}
	return nil
}

// enterWorkdir makes cwd (a path inside the sandbox) the working
// directory. It is resolved inside the root with no symlink leading out
// and no magic link (/proc/self/fd/N) followed, created if create is set,
// and checked after the chdir: the kernel shows a directory outside the
// root as "(unreachable)".
func enterWorkdir(cwd string, create bool) error {
	if !filepath.IsAbs(cwd) {
		return fail(fmt.Errorf("working directory %q: must be an absolute path", cwd))
	}
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("working directory %s: %w", cwd, err))
	}
	defer root.Close()
	var dir *os.File
	if create {
		dir, err = securejoin.MkdirAllHandle(root, cwd, 0o755)
	} else {
		dir, err = securejoin.OpenatInRoot(root, cwd)
	}
	if err != nil {
		// securejoin's errors name its own steps; the errno says it.
		var errno unix.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		if errno == unix.ELOOP || errno == unix.ENOTDIR || errno == unix.EXDEV {
			return fail(fmt.Errorf("working directory %s: not a directory inside the sandbox (%v)", cwd, err))
		}
		return fail(fmt.Errorf("working directory %s: %w", cwd, err))
	}
	defer dir.Close()
	if err := unix.Fchdir(int(dir.Fd())); err != nil {
		return fail(fmt.Errorf("working directory %s: %w", cwd, err))
	}
	got, err := unix.Getwd()
	if err != nil || !filepath.IsAbs(got) || strings.HasPrefix(got, "(unreachable)") {
		return fail(fmt.Errorf("working directory %s: resolves outside the sandbox's root", cwd))
	}
	return nil
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// newSessionKeyring joins a new anonymous session keyring: the caller's
// keys stay out of the sandbox.
func newSessionKeyring() error {
	if _, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); errno != 0 {
		return fmt.Errorf("joining a new session keyring: %w", errno)
	}
	return nil
}

// setUser changes to the command's user and groups on this thread (which
// is the one that calls execve), then makes the process non-dumpable
// again: a change of credentials resets the flag to fs.suid_dumpable.
func setUser(u *execUser, singleID bool) error {
	if !singleID {
		// Like docker, the primary group is also a supplementary one.
		groups := []int{int(u.GID)}
		for _, g := range u.Groups {
			groups = append(groups, int(g))
		}
		if err := syscall.Setgroups(groups); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if err := syscall.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return unmappedID("group", u.GID, err)
	}
	if err := syscall.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return unmappedID("user", u.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making the process non-dumpable: %w", err)
	}
	return nil
}

// unmappedID explains a setresuid/setresgid failure: EINVAL means the ID
// is not mapped in the sandbox's user namespace.
func unmappedID(what string, id uint32, err error) error {
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%s %d is not mapped in the sandbox's user namespace (see /proc/self/uid_map inside; add a larger range to /etc/subuid and /etc/subgid)", what, id)
	}
	return fmt.Errorf("changing to %s %d: %w", what, id, err)
}

// lookupUser resolves the command's user against the sandbox's
// /etc/passwd and /etc/group.
func lookupUser(spec string) (*execUser, error) {
	passwd, err := readOptional("/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := readOptional("/etc/group")
	if err != nil {
		return nil, err
	}
	return resolveUser(spec, bytes.NewReader(passwd), bytes.NewReader(group))
}

// readOptional reads a file of the image that it may lack (a scratch
// image has no /etc/passwd; numeric IDs need none). Any other failure is
// an error: a passwd file that cannot be read would silently run the
// command with the wrong home and groups.
func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
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
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
			return nil, fmt.Errorf("setting the terminal's size: %w", err)
		}
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
	if err := wire.Send(conn, proto.SetupMessage{Kind: proto.KindPTY}, master); err != nil {
		unix.Close(slave)
		return nil, err
	}
	return os.NewFile(uintptr(slave), "pty"), nil
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
