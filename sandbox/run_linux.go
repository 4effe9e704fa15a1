package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"usandbox/internal/trace"
	"usandbox/nsexec"
	"usandbox/sandbox/caps"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
	"usandbox/userns"
)

// RoleEnv marks the process started by Run as the sandbox's init.
const RoleEnv = "_USANDBOX_ROLE=init"

// Options describe one sandbox.
type Options struct {
	Paths index.Paths
	Index *index.Index
	Image *index.Image
	Plan  *userns.Plan

	Name       string
	Entrypoint *string
	Args       []string
	Env        []string // already KEY=VALUE (ParseEnv, ReadEnvFile)
	Workdir    string
	User       string
	Hostname   string
	Volumes    []spec.Mount
	Network    string // "none" or "host"

	ReadOnly        bool
	NoNewPrivileges bool
	CapAdd, CapDrop []string

	Interactive bool
	TTY         bool
	AutoRemove  bool

	Stdin          *os.File
	Stdout, Stderr *os.File
}

// ExitError is a sandbox that ended or failed with Code; Msg, if set, is
// what went wrong (already a full sentence, for one line on stderr).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// Default hardening, as docker's.
var (
	MaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap"}
	ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// Run runs a sandbox to the end and returns its command's exit status.
// A failure of usandbox itself is an *ExitError with Code 125; nothing of
// the sandbox is left when AutoRemove is set.
func Run(o Options) (int, error) {
	capset, err := caps.Compute(o.CapAdd, o.CapDrop)
	if err != nil {
		return 0, err
	}
	argv, err := Argv(o.Image.Config, o.Entrypoint, o.Args)
	if err != nil {
		return 0, err
	}
	if o.Index.Driver != "overlay" {
		return 0, fmt.Errorf("the store uses the %s driver: run needs overlay (native or fuse-overlayfs); see usandbox doctor", o.Index.Driver)
	}
	for _, v := range o.Volumes {
		if v.Type == "bind" {
			if _, err := os.Stat(v.Source); err != nil {
				return 0, fmt.Errorf("volume %s: %w", v.Source, err)
			}
		}
	}
	id, err := newID()
	if err != nil {
		return 0, err
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = id[:12]
	}
	dir := filepath.Join(o.Paths.Root, "sandboxes", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("creating the sandbox directory: %w", err)
	}
	// The lock comes first: a directory with a free lock may be removed
	// by another sandbox's stale-cleaning.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return 0, fmt.Errorf("locking the sandbox: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		os.RemoveAll(dir)
		return 0, fmt.Errorf("locking the sandbox: %w", err)
	}
	if err := prepareDir(dir, hostname, o.AutoRemove); err != nil {
		os.RemoveAll(dir)
		return 0, err
	}
	removeDir := o.AutoRemove
	defer func() {
		if removeDir {
			// The init removed the upper layer (its files belong to
			// sub-IDs); what is left is ours.
			os.RemoveAll(dir)
		}
	}()

	lowers := make([]string, len(o.Image.Layers))
	for i, l := range o.Image.Layers {
		d := l.Link
		if d == "" {
			d = l.Dir
		}
		lowers[len(lowers)-1-i] = d
	}
	userNS := o.Plan.Mode != userns.Root
	env := MergeEnv(o.Image.Config.Env, append([]string{"HOSTNAME=" + hostname}, o.Env...))
	workdir := o.Workdir
	if workdir == "" {
		workdir = o.Image.Config.WorkingDir
	}
	user := o.User
	if user == "" {
		user = o.Image.Config.User
	}
	s := spec.Spec{
		ID:       id,
		Hostname: hostname,
		Rootfs: spec.Rootfs{
			Home: o.Index.Home, Lowers: lowers,
			Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), Target: filepath.Join(dir, "rootfs"),
			UserXattr: userNS, MountProgram: o.Index.MountProgram,
		},
		StateDir:   dir,
		AutoRemove: o.AutoRemove,
		Network:    o.Network,
		Mounts: append([]spec.Mount{
			{Type: "bind", Source: filepath.Join(dir, "etc", "hostname"), Destination: "/etc/hostname"},
			{Type: "bind", Source: filepath.Join(dir, "etc", "hosts"), Destination: "/etc/hosts"},
			{Type: "bind", Source: filepath.Join(dir, "etc", "resolv.conf"), Destination: "/etc/resolv.conf"},
		}, o.Volumes...),
		Process: spec.Process{
			Args: argv, Env: env, Cwd: workdir, User: user, Terminal: o.TTY,
		},
		ReadOnly:        o.ReadOnly,
		NoNewPrivileges: o.NoNewPrivileges,
		Capabilities:    capset,
		MaskedPaths:     MaskedPaths,
		ReadonlyPaths:   ReadonlyPaths,
		UserNS:          userNS,
		SingleID:        o.Plan.Mode == userns.Single,
	}
	var termState *term.State
	stdinFD := int(o.Stdin.Fd())
	if o.TTY && term.IsTerminal(stdinFD) {
		if w, h, err := term.GetSize(stdinFD); err == nil {
			s.Process.Cols, s.Process.Rows = uint16(w), uint16(h)
		}
	}

	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP)
	if userNS {
		flags |= unix.CLONE_NEWUSER
	}
	if o.Network != "host" {
		flags |= unix.CLONE_NEWNET
	}
	stdin := o.Stdin
	if !o.Interactive {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return 0, err
		}
		defer devnull.Close()
		stdin = devnull
	}
	trace.Mark("parent", "sandbox directory ready")
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, userns.ForwardedSignals...)
	defer signal.Stop(sigs)

	child, err := nsexec.Start(nsexec.Config{
		Args:  []string{"usandbox-init", id[:12]},
		Env:   initEnv(),
		Flags: flags,
		Fork:  true,
		MapIDs: func(pid int) error {
			return o.Plan.Apply(pid)
		},
		Stdin: stdin, Stdout: o.Stdout, Stderr: o.Stderr,
		// The init holds the lock while it lives: a sandbox whose lock
		// is free is dead.
		ExtraFiles: []*os.File{lock},
	})
	if err != nil {
		return 0, fmt.Errorf("starting the sandbox: %w", explainStart(err))
	}
	trace.Mark("parent", "init started, IDs mapped")
	lock.Close()
	if err := spec.Send(child.Conn, s); err != nil {
		child.Signal(unix.SIGKILL)
		child.Wait()
		return 0, err
	}

	var wg sync.WaitGroup
	var setupErr *ExitError
	for {
		var m spec.Message
		fds, err := spec.Recv(child.Conn, &m)
		if err != nil {
			break // the init exited (its status says how) or closed the socket after Started
		}
		switch m.Kind {
		case spec.KindPTY:
			if len(fds) != 1 {
				break
			}
			master := os.NewFile(uintptr(fds[0]), "pty-master")
			if term.IsTerminal(stdinFD) {
				termState, _ = term.MakeRaw(stdinFD)
			}
			relayPTY(master, stdin, o.Stdout, o.Interactive, &wg)
			go resizeOnWinch(master, stdinFD)
		case spec.KindError:
			setupErr = &ExitError{Code: m.Code, Msg: m.Msg}
		}
		if m.Kind == spec.KindStarted || m.Kind == spec.KindError {
			trace.Mark("parent", "init says "+m.Kind)
			break
		}
	}

	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig != unix.SIGWINCH {
					child.Signal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	st, err := child.Wait()
	trace.Mark("parent", "init exited")
	close(done)
	wg.Wait()
	if termState != nil {
		term.Restore(stdinFD, termState)
	}
	if err != nil {
		return 0, err
	}
	if setupErr != nil {
		// The sandbox never ran: nothing of it stays.
		removeDir = true
		return 0, setupErr
	}
	return userns.ExitStatus(st), nil
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// prepareDir creates the sandbox's directory: upper and work layers,
// the mount point, and the generated /etc files.
func prepareDir(dir, hostname string, autoRemove bool) error {
	for _, d := range []string{"upper", "work", "rootfs", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("creating the sandbox directory: %w", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || len(strings.TrimSpace(string(resolv))) == 0 {
		resolv = []byte("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	files := map[string]string{
		"hostname": hostname + "\n",
		"hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"127.0.1.1\t" + hostname + "\n",
		"resolv.conf": string(resolv),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing /etc/%s: %w", name, err)
		}
	}
	if autoRemove {
		if err := os.WriteFile(filepath.Join(dir, "autoremove"), nil, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func explainStart(err error) error {
	var he *userns.HostError
	if errors.As(err, &he) {
		return err
	}
	return err
}

// relayPTY copies between the user's terminal and the sandbox's pty.
func relayPTY(master *os.File, in io.Reader, out io.Writer, interactive bool, wg *sync.WaitGroup) {
	if interactive {
		go func() { io.Copy(master, in) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(out, master) // ends with EIO when the last slave closes
		master.Close()
	}()
}

func resizeOnWinch(master *os.File, stdinFD int) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGWINCH)
	for range ch {
		w, h, err := term.GetSize(stdinFD)
		if err != nil {
			continue
		}
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(h), Col: uint16(w)})
	}
}

func initEnv() []string {
	env := []string{RoleEnv}
	if trace.Enabled() {
		env = append(env, "USANDBOX_TRACE=1")
	}
	return env
}
