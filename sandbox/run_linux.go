package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"usandbox/cgroupv2"
	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/trace"
	"usandbox/internal/wire"
	"usandbox/network"
	"usandbox/nsexec"
	"usandbox/sandbox/caps"
	"usandbox/sandbox/lean"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
	"usandbox/userns"
)

// Options describe one sandbox.
type Options struct {
	Paths index.Paths
	Index *index.Index
	Image *index.Image
	// ImageRef is the image as the user named it.
	ImageRef string

	Name       string
	Entrypoint *string
	Args       []string
	Env        []string // already KEY=VALUE (ParseEnv, ReadEnvFile)
	Workdir    string
	User       string
	Hostname   string
	Volumes    []spec.Mount
	// Network is the parsed --network; NetworkRaw its text.
	Network    network.Options
	NetworkRaw string
	Ports      []network.Port
	// DNS are the name servers for the sandbox's /etc/resolv.conf (--dns),
	// instead of the network driver's forwarder or the host's servers.
	DNS    []net.IP
	Limits cgroupv2.Limits

	ReadOnly        bool
	NoNewPrivileges bool
	CapAdd, CapDrop []string
	// Seccomp is the --security-opt seccomp= profile (ReadSeccompOption);
	// nil is docker's default.
	Seccomp *SeccompOption
	// Privileged: podman's rootless --privileged.
	Privileged bool

	TTY        bool
	AutoRemove bool
	Detached   bool
	// Rootless: the sandbox gets a user namespace (usandbox is not root).
	Rootless bool
	// SingleID: that user namespace maps one ID only.
	SingleID bool
}

// IO connects a starting sandbox to the world.
type IO struct {
	// Foreground: the user's terminal or pipes. Stdin is used only when
	// Interactive.
	Stdin          *os.File
	Stdout, Stderr *os.File
	Interactive    bool
	// Log, when set (detached), receives the command's output instead.
	Log *LogWriter
	// Started is called once the command runs.
	Started func(pid int)
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

// Create checks the options and makes the sandbox's record and directory.
func Create(o Options) (*Sandbox, error) {
	capAdd := o.CapAdd
	if o.Privileged {
		capAdd = append(capAdd, "ALL")
	}
	capset, err := caps.Compute(capAdd, o.CapDrop)
	if err != nil {
		return nil, err
	}
	seccompOpt := o.Seccomp
	if seccompOpt == nil {
		seccompOpt = &SeccompOption{Name: SeccompDefault}
	}
	if o.Privileged && o.Seccomp == nil {
		seccompOpt = &SeccompOption{Name: spec.SeccompUnconfined}
	}
	masked, readonly := MaskedPaths, ReadonlyPaths
	if o.Privileged {
		masked, readonly = nil, nil
	}
	argv, err := Argv(o.Image.Config, o.Entrypoint, o.Args)
	if err != nil {
		return nil, err
	}
	if o.Name != "" && !validName.MatchString(o.Name) {
		return nil, invalidf("invalid sandbox name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed", o.Name)
	}
	if o.Workdir != "" && !filepath.IsAbs(o.Workdir) {
		return nil, invalidf("the working directory (-w) must be an absolute path, not %q", o.Workdir)
	}
	if err := checkMounts(o.Volumes); err != nil {
		return nil, err
	}
	if o.Index.Driver != "overlay" {
		return nil, fmt.Errorf("the store uses the %s driver: run needs overlay (native or fuse-overlayfs); see usandbox doctor", o.Index.Driver)
	}
	for _, v := range o.Volumes {
		if v.Type == "bind" {
			if _, err := os.Stat(v.Source); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Source, err)
			}
		}
	}
	if err := network.Check(o.Network); err != nil {
		return nil, err
	}
	if len(o.Ports) > 0 && !o.Network.UserMode() {
		return nil, fmt.Errorf("-p needs a user-mode network (--network slirp4netns or pasta), not --network %s", o.Network.Mode)
	}
	ports, err := network.CheckPorts(o.Ports)
	if err != nil {
		return nil, err
	}
	if o.Limits.Any() {
		info, err := cgroupv2.Detect()
		if err != nil {
			return nil, err
		}
		if err := info.Check(o.Limits); err != nil {
			return nil, err
		}
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = id[:12]
	}
	dir := Dir(o.Paths, id)
	lowers := make([]string, len(o.Image.Layers))
	for i, l := range o.Image.Layers {
		d := l.Link
		if d == "" {
			d = l.Dir
		}
		lowers[len(lowers)-1-i] = d
	}
	workdir := o.Workdir
	if workdir == "" {
		workdir = o.Image.Config.WorkingDir
	}
	user := o.User
	if user == "" {
		user = o.Image.Config.User
	}
	rec := Record{
		ID: id, Name: o.Name, Image: o.ImageRef, ImageID: o.Image.ID, Command: argv,
		Created: time.Now(), AutoRemove: o.AutoRemove, Detached: o.Detached, Ports: ports, Limits: o.Limits,
		SeccompJSON: seccompOpt.JSON,
		Spec: spec.Spec{
			ID:       id,
			Hostname: hostname,
			Rootfs: spec.Rootfs{
				Home: o.Index.Home, Lowers: lowers,
				Upper: filepath.Join(dir, proto.UpperDir), Work: filepath.Join(dir, proto.WorkDir), Target: filepath.Join(dir, "rootfs"),
				UserXattr: o.Rootless, MountProgram: o.Index.MountProgram,
			},
			StateDir:       dir,
			AutoRemove:     o.AutoRemove,
			Network:        o.Network.Mode,
			NetworkOptions: o.NetworkRaw,
			Mounts: append([]spec.Mount{
				{Type: "bind", Source: filepath.Join(dir, "etc", "hostname"), Destination: "/etc/hostname"},
				{Type: "bind", Source: filepath.Join(dir, "etc", "hosts"), Destination: "/etc/hosts"},
				{Type: "bind", Source: filepath.Join(dir, "etc", "resolv.conf"), Destination: "/etc/resolv.conf"},
			}, o.Volumes...),
			Process: spec.Process{
				Args: argv, Env: MergeEnv(o.Image.Config.Env, append([]string{"HOSTNAME=" + hostname}, o.Env...)),
				Cwd: workdir, User: user, Terminal: o.TTY,
			},
			ReadOnly:        o.ReadOnly,
			NoNewPrivileges: o.NoNewPrivileges,
			Capabilities:    capset,
			MaskedPaths:     masked,
			ReadonlyPaths:   readonly,
			SeccompProfile:  seccompOpt.Name,
			Privileged:      o.Privileged,
			UserNS:          o.Rootless,
			SingleID:        o.SingleID,
			Cgroup:          o.Limits.Any(),
		},
	}
	if o.Name == "" {
		rec.Name = generateName(id)
	}
	unlock, err := lockNames(o.Paths)
	if err != nil {
		return nil, err
	}
	defer unlock()
	reclaimStale(o.Paths)
	if o.Name != "" {
		if other, err := Lookup(o.Paths, o.Name); err == nil && other.Name == o.Name {
			return nil, fmt.Errorf("%w: the name %q is used by sandbox %s: remove it or pick another name", ErrNameInUse, o.Name, ShortID(other.ID))
		}
	}
	lock, err := prepareDir(dir, &rec, o.Network, o.DNS)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Sandbox{Record: rec, Dir: dir, State: State{Status: StatusCreated}, lock: lock}, nil
}

// validName is docker's rule for container names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// checkMounts refuses what runc and docker refuse: a mount over the root
// or on /proc, and two mounts on one destination.
func checkMounts(ms []spec.Mount) error {
	seen := map[string]bool{}
	for _, m := range ms {
		d := filepath.Clean(m.Destination)
		switch {
		case d == "/":
			return invalidf("invalid mount destination /: the root filesystem cannot be a volume")
		case d == "/proc" || strings.HasPrefix(d, "/proc/"):
			return invalidf("invalid mount destination %s: /proc is the sandbox's own", d)
		case seen[d]:
			return invalidf("Duplicate mount point: %s", d)
		}
		seen[d] = true
	}
	return nil
}

// lockNames serializes name checks and sandbox creation.
func lockNames(p index.Paths) (func(), error) {
	if err := os.MkdirAll(filepath.Join(p.Root, "sandboxes"), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(p.Root, "sandboxes.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// prepareDir creates the sandbox's directory: its lock (taken: the caller
// holds it until Start hands it to the sandbox's watcher), upper and work
// layers, the mount point, the generated /etc files and the record. It is
// made under a temporary name (creatingPrefix) and renamed when complete:
// a directory under its sandbox's ID always has its record (see
// reclaimStale).
func prepareDir(dir string, rec *Record, netw network.Options, dns []net.IP) (lock *os.File, err error) {
	tmp := filepath.Join(filepath.Dir(dir), creatingPrefix+filepath.Base(dir))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating the sandbox directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if lock, err = os.OpenFile(filepath.Join(tmp, lockFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
		return nil, fmt.Errorf("creating the sandbox's lock: %w", err)
	}
	defer func() {
		if err != nil {
			lock.Close()
			lock = nil
		}
	}()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("locking the sandbox: %w", err)
	}
	if err := writeDir(tmp, rec, netw, dns); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("creating the sandbox directory: %w", err)
	}
	return lock, nil
}

func writeDir(dir string, rec *Record, netw network.Options, dns []net.IP) error {
	for _, d := range []string{proto.UpperDir, proto.WorkDir, "rootfs", "etc"} {
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
	hostname := rec.Spec.Hostname
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if netw.UserMode() {
		// The driver's DNS forwarder passes queries to the host's servers.
		resolv = []byte(fmt.Sprintf("nameserver %s\n", netw.Addr(3)))
		hosts += netw.Addr(100).String() + "\t" + hostname + "\n"
		if ip := hostIP(); ip != "" {
			hosts += ip + "\thost.containers.internal host.docker.internal\n"
		}
	} else {
		hosts += "127.0.1.1\t" + hostname + "\n"
	}
	if len(dns) > 0 {
		var b strings.Builder
		for _, ip := range dns {
			fmt.Fprintf(&b, "nameserver %s\n", ip)
		}
		resolv = []byte(b.String())
	}
	files := map[string]string{
		"hostname":    hostname + "\n",
		"hosts":       hosts,
		"resolv.conf": string(resolv),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing /etc/%s: %w", name, err)
		}
	}
	if rec.AutoRemove {
		// Lets the next usandbox remove what is left if this sandbox's
		// watcher and keeper are both killed (see reclaimStale).
		if err := os.WriteFile(filepath.Join(dir, "autoremove"), nil, 0o600); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(rec, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, configFile), b)
}

// Remove deletes what is left of a stopped sandbox that the caller may
// delete: everything but files owned by other IDs (call it inside the
// user namespace to remove those too).
func (s *Sandbox) Remove() error {
	if Locked(s.Dir) {
		return fmt.Errorf("%w: %s", ErrRunning, ShortID(s.ID))
	}
	return os.RemoveAll(s.Dir)
}

// Start runs the sandbox and waits for it: the command's exit status
// comes back. A failure of usandbox itself is an *ExitError with Code 125,
// and a new sandbox that never ran leaves nothing behind.
//
// The process tree of a sandbox, and who holds what:
//
//	usandbox (foreground) or its monitor (detached; C loop once running)
//	│   holds: the sandbox's lock (a new sandbox's since Create took it,
//	│   passed to the monitor as fd 4), the lifeline's write end, the relay or
//	│   log pipes, the sync socket; waits for the init and the keeper
//	├── keeper (C, in the sandbox's user namespace, NOT in its pid
//	│   namespace): holds the lock and the sandbox directory; once the
//	│   init is dead (pidfd), removes an --rm sandbox's upper layer
//	├── init (C, pid 1 inside): holds its lifeline and a signalfd only;
//	│   forwards signals, reaps, exits with the command's status
//	│   └── setup (Go, pid 2) → execve → the command (pid 2)
//	│       host fds closed, cwd resolved in the root, keyring, caps,
//	│       no_new_privs, seccomp, then execve
//	├── [exec] usandbox exec's child: joined through a pidfd of the init,
//	│   forked into the pid namespace, execve → the exec'd command
//	└── [-p] port helper (Go, sandbox's user+net namespaces, host's pid
//	    and mount namespaces), [network] slirp4netns or pasta
//
// No process in the sandbox's pid namespace holds an fd, cwd or root of
// the host once the command can run, and none that ever did is dumpable
// or owned by the sandbox's user namespace (see package nsexec and
// package inner). The command's stdio are pipes relayed by usandbox (or a
// pty of the sandbox's own devpts with -t), never the caller's terminal.
// The writable layer of an --rm sandbox is removed only after every
// process of the sandbox is dead, fd-relative, never following a symlink.
func Start(p index.Paths, sb *Sandbox, plan *userns.Plan, sio IO) (int, error) {
	if err := sb.Damaged(); err != nil {
		return 0, err
	}
	s := sb.Spec
	dir := sb.Dir
	fresh := sb.State.Status == StatusCreated
	// Whoever watches the sandbox holds the lock while it lives (and the
	// keeper until it is cleaned up): a sandbox whose lock is free is not
	// running. Taking it here also refuses a second start.
	// A new sandbox comes with its lock, taken by Create; a stopped one's
	// is taken under the names lock, which reclaimStale holds: it never
	// sees a sandbox being started with its lock free.
	var err error
	lock := sb.lock
	sb.lock = nil
	if lock == nil {
		if lock, err = takeLock(p, dir); err != nil {
			return 0, fmt.Errorf("%w: %s", err, ShortID(sb.ID))
		}
	}
	defer lock.Close()
	// removeDir: what is left of the directory goes at the end (the keeper
	// removed the sub-ID-owned upper layer of an --rm sandbox).
	removeDir := false
	defer func() {
		if removeDir {
			os.RemoveAll(dir)
		}
	}()
	trace.Mark("parent", "sandbox created, locked")
	prog, err := seccompFor(p, sb, &s)
	if err != nil {
		return 0, err
	}
	s.Seccomp = prog
	trace.Mark("parent", "seccomp filter ready")

	var termState *term.State
	stdinFD := -1
	if sio.Stdin != nil {
		stdinFD = int(sio.Stdin.Fd())
	}
	if s.Process.Terminal && stdinFD >= 0 && term.IsTerminal(stdinFD) {
		if w, h, err := term.GetSize(stdinFD); err == nil {
			s.Process.Cols, s.Process.Rows = uint16(w), uint16(h)
		}
	}

	flags := namespaces(&s)
	// A detached sandbox without published ports ends up watched by a C
	// loop (package lean) instead of a Go process: the port driver needs
	// Go, so -p keeps the Go monitor.
	leanMode := sio.Log != nil && len(sb.Ports) == 0 && os.Getenv("USANDBOX_NO_LEAN") == ""
	var leanOut, leanErr *os.File
	var logWG sync.WaitGroup
	var stdio *relay
	if sio.Log != nil {
		if stdio, err = newRelay(nil, nil, nil); err != nil {
			return 0, err
		}
		if leanMode {
			// The C monitor reads them, once the command runs.
			leanOut, leanErr = stdio.takeOutputs()
		} else {
			outR, errR := stdio.takeOutputs()
			logWG.Add(2)
			go func() { defer logWG.Done(); sio.Log.Copy("stdout", outR); outR.Close() }()
			go func() { defer logWG.Done(); sio.Log.Copy("stderr", errR); errR.Close() }()
		}
	} else {
		var in io.Reader
		if sio.Interactive && !s.Process.Terminal && sio.Stdin != nil {
			in = sio.Stdin
		}
		var out, errOut io.Writer = sio.Stdout, sio.Stderr
		if s.Process.Terminal {
			out, errOut = nil, nil // the pty carries everything
		}
		if stdio, err = newRelay(in, out, errOut); err != nil {
			return 0, err
		}
	}
	defer stdio.closeChildEnds()

	var cg *cgroupv2.Cgroup
	if sb.Limits.Any() {
		info, err := cgroupv2.Detect()
		if err != nil {
			return 0, err
		}
		if cg, err = info.Create(ShortID(sb.ID), sb.Limits); err != nil {
			return 0, err
		}
		defer cg.Remove()
		if err := writeFileAtomic(filepath.Join(dir, cgroupFile), []byte(cg.Dir+"\n")); err != nil {
			return 0, err
		}
		defer os.Remove(filepath.Join(dir, cgroupFile))
	}
	trace.Mark("parent", "sandbox directory ready")

	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer lifeW.Close()
	var state *os.File
	if sb.AutoRemove {
		if state, err = os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
			lifeR.Close()
			return 0, fmt.Errorf("opening the sandbox directory: %w", err)
		}
	}

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, userns.ForwardedSignals...)
	defer signal.Stop(sigs)

	// Role sandbox: the C stage (nsexec) makes the copy the sandbox's
	// keeper and init, and runs Go only in the init's first child, the
	// setup process (inner.Main).
	child, err := nsexec.Start(nsexec.Config{
		Role:    role.Sandbox,
		Args:    []string{"usandbox-init", ShortID(sb.ID)},
		Env:     initEnv(),
		Flags:   flags,
		Sandbox: &nsexec.SandboxConfig{Lifeline: lifeR, State: state, Lock: lock, AutoRemove: sb.AutoRemove},
		MapIDs:  plan.Apply,
		Stdin:   stdio.in, Stdout: stdio.out, Stderr: stdio.err,
	})
	lifeR.Close()
	if state != nil {
		state.Close()
	}
	if err != nil {
		removeDir = fresh || sb.AutoRemove
		return 0, fmt.Errorf("starting the sandbox: %w", err)
	}
	// abort ends a sandbox whose command never ran.
	abort := func() {
		child.Signal(unix.SIGKILL)
		child.Wait()
		child.WaitKeeper()
		removeDir = fresh || sb.AutoRemove
	}
	trace.Mark("parent", "init started, IDs mapped")
	if cg != nil {
		// Into the cgroup before the init makes its cgroup namespace,
		// which so has the sandbox's cgroup as its root.
		if err := cg.Add(child.Pid); err != nil {
			abort()
			return 0, err
		}
	}
	if _, err := lifeW.Write([]byte{nsexec.LifelineGo}); err != nil {
		abort()
		return 0, fmt.Errorf("starting the sandbox's init: %w", err)
	}
	if s.Network == network.Slirp4netns || s.Network == network.Pasta {
		// The drivers enter the sandbox's namespaces through the keeper's
		// /proc/PID/ns: the init is not dumpable.
		netw, err := startNetwork(p, sb, child.KeeperPid())
		if err != nil {
			abort()
			return 0, err
		}
		defer netw.Close()
		cfg := netw.Config()
		s.Net = &cfg
		trace.Mark("parent", "network up")
	}
	// The init, the setup and the keeper hold their ends now.
	stdio.closeChildEnds()
	if err := wire.Send(child.Conn, s); err != nil {
		abort()
		return 0, err
	}

	var relayWG sync.WaitGroup
	var setupErr *ExitError
	started := false
	for {
		var m spec.Message
		fds, err := wire.Recv(child.Conn, &m)
		if err != nil {
			break // the command runs (the socket closed on exec) or setup died
		}
		switch m.Kind {
		case spec.KindPTY:
			if len(fds) != 1 {
				break
			}
			master := os.NewFile(uintptr(fds[0]), "pty-master")
			if leanMode {
				leanOut.Close()
				leanErr.Close()
				leanOut, leanErr = master, nil
				break
			}
			if sio.Log != nil {
				logWG.Add(1)
				go func() { defer logWG.Done(); sio.Log.Copy("stdout", master); master.Close() }()
				break
			}
			if stdinFD >= 0 && term.IsTerminal(stdinFD) {
				termState, _ = term.MakeRaw(stdinFD)
			}
			relayPTY(master, sio.Stdin, sio.Stdout, sio.Interactive, &relayWG)
			if stdinFD >= 0 {
				go resizeOnWinch(master, stdinFD)
			}
		case spec.KindError:
			setupErr = &ExitError{Code: m.Code, Msg: m.Msg}
		case spec.KindStarted:
			started = true
		}
	}
	trace.Mark("parent", "setup done")
	if started && setupErr == nil {
		if cg != nil {
			if err := cg.LimitPids(sb.Limits.PidsLimit); err != nil {
				child.Signal(unix.SIGKILL)
				setupErr = &ExitError{Code: 125, Msg: err.Error()}
			}
		}
	}
	if started && setupErr == nil {
		// The previous run's record goes only now: a start that fails
		// leaves the sandbox exactly as it was. The space of this run's
		// is taken now, so that a full store cannot lose it.
		// (An --rm sandbox runs once and records no exit.)
		var err error
		if !sb.AutoRemove {
			err = spec.ReserveExit(dir)
		}
		if err != nil {
			child.Signal(unix.SIGKILL)
			setupErr = &ExitError{Code: 125, Msg: fmt.Sprintf("reserving the exit record: %v", err)}
		} else if err := writeFileAtomic(filepath.Join(dir, startFile), []byte(fmt.Sprintf("%d %d %d\n", child.Pid, time.Now().UnixNano(), child.KeeperPid()))); err != nil {
			child.Signal(unix.SIGKILL)
			setupErr = &ExitError{Code: 125, Msg: fmt.Sprintf("recording the start: %v", err)}
		} else {
			if sio.Started != nil {
				sio.Started(child.Pid)
			}
			if leanMode {
				err := execLeanMonitor(p, sb, child, lock, lifeW, leanOut, leanErr, sio.Log)
				// Still here: the exec failed, the Go monitor carries on.
				fmt.Fprintln(os.Stderr, "usandbox monitor: staying in Go:", err)
				leanMode = false
				if leanOut != nil {
					logWG.Add(1)
					go func() { defer logWG.Done(); sio.Log.Copy("stdout", leanOut) }()
				}
				if leanErr != nil {
					logWG.Add(1)
					go func() { defer logWG.Done(); sio.Log.Copy("stderr", leanErr) }()
				}
			}
		}
	}

	stopForwarding := forwardSignals(sigs, child)
	st, err := child.Wait()
	trace.Mark("parent", "init exited")
	stopForwarding()
	keeperErr := child.WaitKeeper()
	stdio.wait()
	relayWG.Wait()
	logWG.Wait()
	if sio.Log != nil {
		sio.Log.Close()
	}
	if termState != nil {
		term.Restore(stdinFD, termState)
	}
	if err != nil {
		return 0, err
	}
	if setupErr == nil && !started {
		setupErr = &ExitError{Code: 125, Msg: fmt.Sprintf("the sandbox's init failed before the command ran (%v)", st)}
	}
	if setupErr != nil {
		// A new sandbox that never ran: nothing of it stays.
		removeDir = fresh || sb.AutoRemove
		return 0, setupErr
	}
	removeDir = sb.AutoRemove
	if keeperErr != nil && sb.AutoRemove {
		// Its upper layer is still there: leave the directory for
		// usandbox rm (or system check) rather than half of it.
		removeDir = false
		fmt.Fprintf(os.Stderr, "usandbox: removing sandbox %s failed (%v): remove it with usandbox rm %s\n", ShortID(sb.ID), keeperErr, ShortID(sb.ID))
	}
	code := userns.ExitStatus(st)
	if cg != nil && cg.OOMKilled() {
		if !sb.AutoRemove {
			WriteExit(dir, 137, true)
		}
		return 0, &ExitError{Code: 137, Msg: fmt.Sprintf("the sandbox ran out of memory (--memory %s) and was killed", humanBytes(sb.Limits.Memory))}
	}
	if !sb.AutoRemove {
		if err := WriteExit(dir, code, false); err != nil {
			fmt.Fprintf(os.Stderr, "usandbox: recording the exit status of %s: %v\n", ShortID(sb.ID), err)
		}
	}
	return code, nil
}

func initEnv() []string {
	var env []string
	if trace.Enabled() {
		env = append(env, "USANDBOX_TRACE=1")
	}
	return env
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

// resizeOnWinch gives the sandbox's pty the size of the user's terminal
// now and after every SIGWINCH. It listens before it copies the size the
// first time, so that a resize between the sandbox's start and this call
// is not lost. A failed ioctl (the pty is gone) is not worth reporting.
func resizeOnWinch(master *os.File, stdinFD int) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGWINCH)
	ch <- unix.SIGWINCH
	for range ch {
		w, h, err := term.GetSize(stdinFD)
		if err != nil {
			continue
		}
		_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(h), Col: uint16(w)})
	}
}

var adjectives = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "mellow", "nifty", "quirky", "sharp", "tender", "vivid", "witty"}
var nouns = []string{"babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "kepler", "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak", "yalow"}

// generateName makes a docker-like name from the ID.
func generateName(id string) string {
	n, _ := strconv.ParseUint(id[:8], 16, 64)
	return adjectives[n%16] + "_" + nouns[(n/16)%16] + "_" + id[8:12]
}

// hostIP is the host's address that the sandbox reaches it by: the
// source address of the default route (never loopback, which the
// sandbox cannot reach unless allow_host_loopback).
func hostIP() string {
	c, err := net.Dial("udp4", "192.0.2.1:9") // no packet is sent
	if err != nil {
		return ""
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// startNetwork starts the user-mode network and the port forwarders of the
// sandbox whose init is pid.
func startNetwork(p index.Paths, sb *Sandbox, pid int) (*cleanupNetwork, error) {
	o, err := network.ParseNetwork(sb.Spec.NetworkOptions)
	if err != nil {
		return nil, err
	}
	stateDir := filepath.Join(p.RunRoot, "net", ShortID(sb.ID))
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	var log io.Writer
	if os.Getenv("USANDBOX_DEBUG") != "" {
		log = os.Stderr
	}
	netw, err := network.Setup(o, pid, stateDir, log)
	if err != nil {
		os.RemoveAll(stateDir)
		return nil, err
	}
	if err := netw.Publish(sb.Ports, pid, stateDir, log); err != nil {
		netw.Close()
		os.RemoveAll(stateDir)
		return nil, err
	}
	return &cleanupNetwork{netw, stateDir}, nil
}

// cleanupNetwork also removes the drivers' state directory.
type cleanupNetwork struct {
	*network.Network
	dir string
}

func (c *cleanupNetwork) Close() error {
	err := c.Network.Close()
	os.RemoveAll(c.dir)
	return err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dg", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dm", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprintf("%d", n)
}

// namespaces are the sandbox's namespaces, as CLONE_NEW* flags.
func namespaces(s *spec.Spec) uintptr {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP)
	if s.UserNS {
		flags |= unix.CLONE_NEWUSER
	}
	if s.Network != "host" {
		flags |= unix.CLONE_NEWNET
	}
	return flags
}

// forwardSignals passes what arrives on sigs to child (SIGWINCH is the
// terminal relay's) until the returned stop is called.
func forwardSignals(sigs <-chan os.Signal, child *nsexec.Child) (stop func()) {
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
	return func() { close(done) }
}

// execLeanMonitor replaces this monitor with package lean's C loop, which
// logs the output and waits for the init and the keeper, then runs
// Finish. It returns only on failure.
func execLeanMonitor(p index.Paths, sb *Sandbox, child *nsexec.Child, lock, lifeline, out, errOut *os.File, log *LogWriter) error {
	logFD, err := log.Fd()
	if err != nil {
		return err
	}
	if err := os.Chdir(sb.Dir); err != nil {
		return err
	}
	fd := func(f *os.File) int {
		if f == nil {
			return -1
		}
		return int(f.Fd())
	}
	// The C loop works in the sandbox's directory (the Chdir above).
	c := lean.Config{
		Init: child.Pid, Keeper: child.KeeperPid(), Stdout: fd(out), Stderr: fd(errOut),
		Log: logFD, LogMax: DefaultLogMax, LogName: LogFile, RotatedName: RotatedLog(LogFile),
	}
	env := []string{
		finishRoot + "=" + p.Root, finishRunRoot + "=" + p.RunRoot, finishID + "=" + sb.ID,
	}
	if trace.Enabled() {
		env = append(env, "USANDBOX_TRACE=1")
	}
	// The lock and the lifeline stay open through the C loop and Finish.
	return lean.Monitor(c, env, int(lock.Fd()), int(lifeline.Fd()))
}

// Environment of the finish step.
const (
	finishRoot    = "_USANDBOX_FINISH_ROOT"
	finishRunRoot = "_USANDBOX_FINISH_RUNROOT"
	finishID      = "_USANDBOX_FINISH_ID"
)

// Finish does what a lean monitor leaves once the init exited with code:
// records the exit (OOM included), removes the cgroup and the network's
// state, or the whole sandbox for --rm. It holds the sandbox's lock
// (inherited) until it returns.
func Finish(code int) error {
	p := index.Paths{Root: os.Getenv(finishRoot), RunRoot: os.Getenv(finishRunRoot)}
	sb, err := Load(p, os.Getenv(finishID))
	if err != nil {
		return err
	}
	oom := false
	if b, err := os.ReadFile(filepath.Join(sb.Dir, cgroupFile)); err == nil {
		cg := &cgroupv2.Cgroup{Dir: strings.TrimSpace(string(b))}
		oom = cg.OOMKilled()
		cg.Remove()
		os.Remove(filepath.Join(sb.Dir, cgroupFile))
	}
	os.RemoveAll(filepath.Join(p.RunRoot, "net", ShortID(sb.ID)))
	if sb.AutoRemove {
		return os.RemoveAll(sb.Dir)
	}
	if oom {
		code = 137
	}
	return WriteExit(sb.Dir, code, oom)
}
