package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/sigproxy"
	"usandbox/internal/trace"
	"usandbox/internal/wire"
	"usandbox/network"
	"usandbox/network/bypass"
	"usandbox/network/holder"
	"usandbox/network/netconf"
	"usandbox/nsexec"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
	"usandbox/userns"
)

// Start runs the sandbox and waits for it: the command's exit status
// comes back. A failure of usandbox itself is an *ExitError with Code 125,
// and a new sandbox that never ran leaves nothing behind.
//
// The processes of a sandbox, who holds what, and the protocols they
// speak are drawn in package internal/proto.
//
// No process in the sandbox's pid namespace holds an fd, cwd or root of
// the host once the command can run, and none that ever did is dumpable
// or owned by the sandbox's user namespace (see package nsexec and
// package inner). The command's stdio are pipes relayed by usandbox (or a
// pty of the sandbox's own devpts with -t), never the caller's terminal.
// The writable layer of an --rm sandbox is removed only after every
// process of the sandbox is dead, fd-relative, never following a symlink.
//
// Start's steps, one method each of a starting: prepare (lock, seccomp
// filter, stdio, cgroup), launch (nsexec, cgroup, lifeline, network, the
// spec), handshake (setup's messages until the command runs), commit
// (pids limit, the start recorded, the caller told; a lean monitor execs
// here), wait (signals forwarded, the init and the keeper waited for, the
// exit recorded). Whatever a step set up is undone, in reverse, when
// Start returns; an error undoing it is reported on stderr.
func Start(p index.Paths, sb *Sandbox, plan *userns.Plan, sio IO) (int, error) {
	if err := sb.Damaged(); err != nil {
		return 0, err
	}
	st := &starting{p: p, sb: sb, plan: plan, sio: sio, s: sb.Spec, dir: sb.Dir, fresh: sb.State.Status == StatusCreated}
	defer st.undo()
	if err := st.prepare(); err != nil {
		return 0, err
	}
	if err := st.launch(); err != nil {
		return 0, err
	}
	st.handshake()
	st.commit()
	return st.wait()
}

// outputMode is where a sandbox's output goes.
type outputMode int

const (
	// toCaller: the caller's terminal or pipes (foreground).
	toCaller outputMode = iota
	// toLogGo: the log, written by this Go process (a detached sandbox
	// with published ports: the port driver needs Go).
	toLogGo
	// toLogLean: the log, written by package lean's C loop, which this
	// process becomes once the command runs.
	toLogLean
)

// starting is one start of a sandbox (see Start).
type starting struct {
	p     index.Paths
	sb    *Sandbox
	plan  *userns.Plan
	sio   IO
	s     spec.Spec
	dir   string
	fresh bool // a new sandbox, never run

	lock *os.File
	// removeDir: what is left of the directory goes at the end (the
	// keeper removed the sub-ID-owned upper layer of an --rm sandbox).
	removeDir bool
	undos     []undo

	mode             outputMode
	stdio            *relay
	leanOut, leanErr *os.File // the command's output, for the C loop
	logWG            sync.WaitGroup
	tty              *ptyRelay

	cg    *cgroupv2.Cgroup
	lifeW *os.File
	sigs  *sigproxy.Proxy
	child *nsexec.Child

	setupErr *ExitError
	started  bool

	// netw is the sandbox's user-mode network (nil: none).
	netw *cleanupNetwork
}

type undo struct {
	what string
	fn   func() error
}

// later registers fn to run when Start returns (the last registered
// first).
func (st *starting) later(what string, fn func() error) { st.undos = append(st.undos, undo{what, fn}) }

func (st *starting) undo() {
	for i := len(st.undos) - 1; i >= 0; i-- {
		if err := st.undos[i].fn(); err != nil {
			st.warn("%s: %v", st.undos[i].what, err)
		}
	}
	trace.Mark("parent", "cleaned up")
}

func (st *starting) warn(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "usandbox: sandbox %s: %s\n", ShortID(st.sb.ID), fmt.Sprintf(format, a...))
}

// prepare takes the sandbox's lock and makes what the sandbox's processes
// will hold: the seccomp filter, the stdio, the cgroup.
func (st *starting) prepare() error {
	sb := st.sb
	// Whoever watches the sandbox holds the lock while it lives (and the
	// keeper until it is cleaned up): a sandbox whose lock is free is not
	// running. Taking it here also refuses a second start.
	// A new sandbox comes with its lock, taken by Create; a stopped one's
	// is taken under the names lock, which reclaimStale holds: it never
	// sees a sandbox being started with its lock free.
	st.lock, sb.lock = sb.lock, nil
	if st.lock == nil {
		lock, err := takeLock(st.p, st.dir)
		if err != nil {
			return fmt.Errorf("%w: %s", err, ShortID(sb.ID))
		}
		st.lock = lock
	}
	st.later("releasing its lock", st.lock.Close)
	if sb.AutoRemove {
		// From its first start on (not at create: create --rm keeps the
		// sandbox until it is started, as podman's does), the next
		// usandbox may remove what is left if the sandbox's watcher and
		// keeper are both killed (see reclaimStale).
		if err := os.WriteFile(filepath.Join(st.dir, autoRemoveFile), nil, 0o600); err != nil {
			return err
		}
	}
	st.later("removing its directory", func() error {
		if !st.removeDir {
			return nil
		}
		err := removeSandboxDir(st.plan, st.dir)
		if err == nil && st.started {
			Event(st.p, st.sb, "destroy", nil)
		}
		return err
	})
	trace.Mark("parent", "sandbox created, locked")
	prog, err := seccompFor(st.p, sb, &st.s)
	if err != nil {
		return err
	}
	st.s.Seccomp = prog
	trace.Mark("parent", "seccomp filter ready")
	if st.s.Process.Terminal {
		if cols, rows, ok := terminalSize(st.sio.Stdin); ok {
			st.s.Process.Cols, st.s.Process.Rows = cols, rows
		}
	}
	if err := st.prepareStdio(); err != nil {
		return err
	}
	if sb.Limits.Any() {
		info, err := cgroupv2.Detect()
		if err != nil {
			return err
		}
		if st.cg, err = info.Create(ShortID(sb.ID), sb.Limits); err != nil {
			return err
		}
		st.later("removing its cgroup", st.cg.Remove)
		path := filepath.Join(st.dir, cgroupFile)
		if err := writeRunState(path, []byte(st.cg.Dir+"\n")); err != nil {
			return err
		}
		st.later("removing its cgroup's record", func() error { return removeIfExists(path) })
	}
	trace.Mark("parent", "sandbox directory ready")
	return nil
}

// InitBinary is the name of the sandbox role's own binary
// (cmd/usandbox-init), installed next to usandbox.
const InitBinary = "usandbox-init"

// initBinary is usandbox-init next to this binary, which keepers, inits
// and setup processes run from; "" (this binary) where it is not
// installed: a usandbox alone starts sandboxes too, about half a
// millisecond slower (the setup's Go runtime is then usandbox's, three
// times the size).
var initBinary = sync.OnceValue(func() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	path := filepath.Join(filepath.Dir(self), InitBinary)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || unix.Access(path, unix.X_OK) != nil {
		return ""
	}
	return path
})

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// prepareStdio makes the command's stdio: pipes relayed to the caller's
// streams, or into the log (detached).
func (st *starting) prepareStdio() error {
	sio := st.sio
	var err error
	if sio.Log == nil {
		var in io.Reader
		if sio.Interactive && !st.s.Process.Terminal && sio.Stdin != nil {
			in = sio.Stdin
		}
		var out, errOut io.Writer = sio.Stdout, sio.Stderr
		if sio.Record != nil {
			out, errOut = sio.Record.Tee("stdout", out), sio.Record.Tee("stderr", errOut)
		}
		if st.s.Process.Terminal {
			out, errOut = nil, nil // the pty carries everything
		}
		if st.stdio, err = newRelay(in, out, errOut); err != nil {
			return err
		}
		st.later("closing its stdio", nilErr(st.stdio.closeChildEnds))
		return nil
	}
	var in io.Reader
	if st.sb.OpenStdin {
		if err := makeFifo(StdinPath(st.dir)); err != nil {
			return err
		}
		if !st.s.Process.Terminal {
			in = &fifoStdin{path: StdinPath(st.dir), once: st.sb.StdinOnce}
		}
	}
	if st.s.Process.Terminal {
		if err := makeFifo(CtlPath(st.dir)); err != nil {
			return err
		}
	}
	if st.stdio, err = newRelay(in, nil, nil); err != nil {
		return err
	}
	st.later("closing its stdio", nilErr(st.stdio.closeChildEnds))
	// A detached sandbox without published ports ends up watched by a C
	// loop (package lean) instead of a Go process: the port driver needs
	// Go, so -p keeps the Go monitor, and so does a health check (the
	// monitor runs it on its interval) and --timeout (the C loop has no
	// timer).
	// An open stdin and a tty's resizing are Go's too.
	// So does socket bypass: its handler is Go.
	if len(st.sb.Ports) == 0 && !st.s.Bypass && st.sb.Healthcheck == nil && st.sb.Timeout == 0 && !st.sb.OpenStdin && !st.s.Process.Terminal && os.Getenv("USANDBOX_NO_LEAN") == "" {
		st.mode = toLogLean
		// The C monitor reads them, once the command runs.
		st.leanOut, st.leanErr = st.stdio.takeOutputs()
		return nil
	}
	st.mode = toLogGo
	outR, errR := st.stdio.takeOutputs()
	st.logTo("stdout", outR)
	st.logTo("stderr", errR)
	return nil
}

func nilErr(f func()) func() error { return func() error { f(); return nil } }

// logTo copies r into the log until it ends, then closes it.
func (st *starting) logTo(stream string, r *os.File) {
	st.logWG.Add(1)
	go func() {
		defer st.logWG.Done()
		st.sio.Log.Copy(stream, r)
		r.Close()
	}()
}

// launch starts the keeper and the init, puts the init in its cgroup,
// lets it go on, starts the network and sends setup the spec.
func (st *starting) launch() error {
	sb := st.sb
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return err
	}
	st.lifeW = lifeW
	st.later("closing the lifeline", lifeW.Close)
	var state *os.File
	if sb.AutoRemove {
		if state, err = os.OpenFile(st.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
			lifeR.Close()
			return fmt.Errorf("opening the sandbox directory: %w", err)
		}
	}
	// Caught from now on, forwarded once the init exists; SIGWINCH is
	// the terminal relay's.
	plan, err := planFor(st.plan, &st.s)
	if err != nil {
		_ = lifeR.Close()
		if state != nil {
			_ = state.Close()
		}
		st.removeDir = st.fresh || sb.AutoRemove
		return err
	}
	var sess *holder.Session
	if st.s.Network == network.Bridge {
		if sess, err = st.reserve(); err != nil {
			_ = lifeR.Close()
			if state != nil {
				_ = state.Close()
			}
			st.removeDir = st.fresh || sb.AutoRemove
			return err
		}
		st.later("leaving its networks' session", sess.Close)
	}
	st.sigs = sigproxy.Listen().Except(unix.SIGWINCH)
	if st.sio.NoSigProxy {
		st.sigs.Except(sigproxy.Default...)
	}
	st.later("forwarding signals", nilErr(st.sigs.Stop))
	// Role sandbox: the C stage (nsexec) makes the copy the sandbox's
	// keeper and init, and runs Go only in the init's first child, the
	// setup process (inner.Main).
	var parentNS, join *os.File
	if sess != nil {
		parentNS = sess.Holder
	}
	if st.s.Network == network.Container {
		if join, err = st.shareNetwork(); err != nil {
			st.removeDir = st.fresh || sb.AutoRemove
			_ = lifeR.Close()
			if state != nil {
				_ = state.Close()
			}
			return err
		}
		defer join.Close()
	}
	st.child, err = nsexec.Start(nsexec.Config{
		ParentUserNS: parentNS,
		Join:         join,
		Role:         role.Sandbox,
		Binary:       initBinary(),
		Args:         []string{"usandbox-init", ShortID(sb.ID)},
		Env:          initEnv(),
		Flags:        namespaces(&st.s),
		Sandbox:      &nsexec.SandboxConfig{Lifeline: lifeR, State: state, Lock: st.lock, AutoRemove: sb.AutoRemove},
		MapIDs:       plan.Apply,
		Stdin:        st.stdio.in, Stdout: st.stdio.out, Stderr: st.stdio.err,
	})
	// Ours are closed: the keeper and the init hold theirs (or none
	// was started). A close error of a descriptor just duplicated into
	// another process cannot lose anything.
	_ = lifeR.Close()
	if state != nil {
		_ = state.Close()
	}
	if err != nil {
		st.removeDir = st.fresh || sb.AutoRemove
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	trace.Mark("parent", "init started, IDs mapped")
	if st.cg != nil {
		// Into the cgroup before the init makes its cgroup namespace,
		// which so has the sandbox's cgroup as its root.
		if err := st.cg.Add(st.child.Pid); err != nil {
			return st.abort(err)
		}
	}
	if _, err := lifeW.Write([]byte{nsexec.LifelineGo}); err != nil {
		return st.abort(fmt.Errorf("starting the sandbox's init: %w", err))
	}
	if st.s.Network == network.Slirp4netns || st.s.Network == network.Pasta {
		// The drivers enter the sandbox's namespaces through the keeper's
		// /proc/PID/ns: the init is not dumpable.
		netw, err := startNetwork(st.p, sb, st.child.KeeperPid())
		if err != nil {
			return st.abort(err)
		}
		st.later("stopping its network", netw.Close)
		st.netw = netw
		cfg := netw.Config()
		st.s.Net = &cfg
		trace.Mark("parent", "network up")
	}
	if sess != nil {
		if err := st.attach(sess); err != nil {
			return st.abort(err)
		}
		trace.Mark("parent", "on its networks")
		if len(sb.Ports) > 0 {
			netw, err := startNetwork(st.p, sb, st.child.KeeperPid())
			if err != nil {
				return st.abort(err)
			}
			st.later("stopping its port forwarders", netw.Close)
		}
	}
	// The init, the setup and the keeper hold their ends now.
	st.stdio.closeChildEnds()
	if err := wire.Send(st.child.Conn, st.s); err != nil {
		return st.abort(err)
	}
	return nil
}

// shareNetwork finds the running sandbox whose user and network
// namespaces this one shares (--network container:NAME): a pidfd of its
// keeper. Its /etc/hosts and /etc/resolv.conf become this one's, as
// docker's do.
func (st *starting) shareNetwork() (*os.File, error) {
	other, err := Lookup(st.p, st.sb.Network.Container)
	if err != nil {
		return nil, fmt.Errorf("--network container:%s: %w", st.sb.Network.Container, err)
	}
	join, pidns, err := keeperNamespaces(other)
	if err != nil {
		return nil, fmt.Errorf("--network container:%s: %w: start it first", other.Name, err)
	}
	pidns.Close()
	for _, name := range []string{"hosts", "resolv.conf"} {
		b, err := os.ReadFile(filepath.Join(other.Dir, "etc", name))
		if err == nil {
			err = os.WriteFile(filepath.Join(st.dir, "etc", name), b, 0o644)
		}
		if err != nil {
			join.Close()
			return nil, fmt.Errorf("--network container:%s: /etc/%s: %w", other.Name, name, err)
		}
	}
	return join, nil
}

// reserve asks the networks' holder for the sandbox's places on its
// networks (their configurations as they are now: one removed since the
// sandbox was created is an error).
func (st *starting) reserve() (*holder.Session, error) {
	sb := st.sb
	store := netconf.Open(filepath.Join(st.p.Root, "networks"))
	req := holder.Request{ID: sb.ID, Name: sb.Name}
	for _, a := range sb.Network.Networks {
		cfg, err := store.Get(a.Name)
		if err != nil {
			return nil, fmt.Errorf("sandbox %s: network %s: %w", ShortID(sb.ID), a.Name, err)
		}
		req.Networks = append(req.Networks, holder.Join{Config: *cfg, Aliases: a.Aliases})
	}
	sess, err := holder.Reserve(filepath.Join(st.p.RunRoot, "networks"), st.plan.Apply, req)
	if err != nil {
		return nil, err
	}
	trace.Mark("parent", "networks reserved")
	return sess, nil
}

// attach plugs the started sandbox into its networks (through its
// keeper's network namespace; it lives there as long as its init) and
// writes its /etc/hosts.
func (st *starting) attach(sess *holder.Session) error {
	netns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", st.child.KeeperPid()))
	if err != nil {
		return fmt.Errorf("the sandbox's network namespace: %w", err)
	}
	defer netns.Close()
	fd, err := unix.PidfdOpen(st.child.Pid, 0)
	if err != nil {
		return fmt.Errorf("the sandbox's init: %w", err)
	}
	init := os.NewFile(uintptr(fd), "init")
	defer init.Close()
	trace.Mark("parent", "attach: sent")
	if err := sess.Attach(st.sb.ID, st.child.KeeperPid(), st.child.Pid, netns, init); err != nil {
		return err
	}
	var addrs []string
	for _, a := range sess.Addresses {
		addrs = append(addrs, a.IP)
	}
	trace.Mark("parent", "attach: answered")
	if err := writeHosts(st.dir, &st.sb.Record, addrs); err != nil {
		return err
	}
	return writeRunState(filepath.Join(st.dir, networksFile), mustJSON(sess.Addresses))
}

// abort ends a sandbox whose command never ran, and returns err.
func (st *starting) abort(err error) error {
	st.kill()
	// Their ends are the point, not their statuses: the sandbox is being
	// given up, for err.
	_, _ = st.child.Wait()
	_ = st.child.WaitKeeper()
	st.removeDir = st.fresh || st.sb.AutoRemove
	return err
}

// kill ends the sandbox: its init's death ends its pid namespace. The
// init already gone is what kill wants.
func (st *starting) kill() {
	if err := st.child.Signal(unix.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		st.warn("killing its init: %v", err)
	}
}

// fail ends a sandbox whose start went wrong after setup: Start returns
// code and msg.
func (st *starting) fail(code int, msg string) {
	st.kill()
	st.setupErr = &ExitError{Code: code, Msg: msg}
}

// handshake reads setup's messages until the command runs (the socket
// closes on its exec) or setup dies.
func (st *starting) handshake() {
	for {
		var m proto.SetupMessage
		fds, err := wire.Recv(st.child.Conn, &m)
		if err != nil {
			break
		}
		switch m.Kind {
		case proto.KindPTY:
			if len(fds) == 1 {
				st.onPTY(os.NewFile(uintptr(fds[0]), "pty-master"))
			}
		case proto.KindBypass:
			if len(fds) == 1 {
				st.serveBypass(os.NewFile(uintptr(fds[0]), "seccomp-listener"))
			}
		case proto.KindSetupError:
			st.setupErr = &ExitError{Code: m.Code, Msg: m.Msg}
		case proto.KindStarted:
			st.started = true
		}
	}
	trace.Mark("parent", "setup done")
}

// serveBypass answers the command's connect, bind and listen calls
// (package network/bypass) until the sandbox ends.
func (st *starting) serveBypass(l *os.File) {
	if st.netw == nil {
		l.Close()
		st.fail(125, "socket bypass: the sandbox has no user-mode network")
		return
	}
	_, pol, rs := st.netw.Bypass()
	h, err := bypass.Serve(l, pol, rs, debugLog())
	if err != nil {
		bypass.CloseReservations(rs)
		st.fail(125, err.Error())
		return
	}
	st.later("stopping its socket bypass", h.Close)
}

// onPTY takes the master of the sandbox's pty (-t): it carries all of the
// command's output.
func (st *starting) onPTY(master *os.File) {
	switch st.mode {
	case toLogLean:
		st.leanOut.Close()
		st.leanErr.Close()
		st.leanOut, st.leanErr = master, nil
	case toLogGo:
		st.logTo("stdout", master)
		// The monitor's own copies, which end with it.
		go followCtl(CtlPath(st.dir), master)
		if st.sb.OpenStdin {
			go func() { _, _ = io.Copy(master, &fifoStdin{path: StdinPath(st.dir), once: st.sb.StdinOnce}) }()
		}
	default:
		var out io.Writer = st.sio.Stdout
		if st.sio.Record != nil {
			out = st.sio.Record.Tee("stdout", out)
		}
		tty, err := relayPTY(master, st.sio.Streams, out)
		if err != nil {
			st.fail(125, err.Error())
			return
		}
		st.tty = tty
	}
}

// commit makes a start that went well the sandbox's state: the pids
// limit on, the previous run's exit gone, the start recorded, the caller
// told. A lean monitor becomes package lean's C loop here.
func (st *starting) commit() {
	if !st.started || st.setupErr != nil {
		return
	}
	sb, child := st.sb, st.child
	if st.cg != nil {
		if err := st.cg.LimitPids(sb.Limits.PidsLimit); err != nil {
			st.fail(125, err.Error())
			return
		}
	}
	// The previous run's record goes only now: a start that fails
	// leaves the sandbox exactly as it was. The space of this run's is
	// taken now, so that a full store cannot lose it. (An --rm sandbox
	// runs once and records no exit.)
	if !sb.AutoRemove {
		if err := spec.ReserveExit(st.dir); err != nil {
			st.fail(125, fmt.Sprintf("reserving the exit record: %v", err))
			return
		}
	}
	rec := fmt.Sprintf("%d %d %d\n", child.Pid, time.Now().UnixNano(), child.KeeperPid())
	if err := writeRunState(filepath.Join(st.dir, startFile), []byte(rec)); err != nil {
		st.fail(125, fmt.Sprintf("recording the start: %v", err))
		return
	}
	Event(st.p, sb, "start", nil)
	if st.sio.Started != nil {
		st.sio.Started(child.Pid)
	}
	if st.mode != toLogLean {
		return
	}
	err := execLeanMonitor(st.p, sb, child, st.lock, st.lifeW, st.leanOut, st.leanErr, st.sio.Log)
	// Still here: the exec failed, the Go monitor carries on.
	st.warn("the monitor stays in Go: %v", err)
	st.mode = toLogGo
	if st.leanOut != nil {
		st.logTo("stdout", st.leanOut)
	}
	if st.leanErr != nil {
		st.logTo("stderr", st.leanErr)
	}
}

// wait forwards signals to the init until it exits, waits for the keeper
// (which removes an --rm sandbox's upper layer) and the output, and
// records how the sandbox ended.
func (st *starting) wait() (int, error) {
	sb, child := st.sb, st.child
	st.sigs.Forward(child.Signal)
	var timedOut atomic.Bool
	if sb.Timeout > 0 && st.started {
		// --timeout: the whole sandbox goes, as podman's conmon kills it.
		t := time.AfterFunc(time.Duration(sb.Timeout)*time.Second, func() {
			timedOut.Store(true)
			st.kill()
		})
		defer t.Stop()
	}
	ps, err := child.Wait()
	trace.Mark("parent", "init exited")
	st.sigs.Stop()
	keeperErr := child.WaitKeeper()
	trace.Mark("parent", "keeper exited (layer removed)")
	st.stdio.wait()
	ttyErr := st.tty.Close()
	st.logWG.Wait()
	if st.sio.Log != nil {
		if err := st.sio.Log.Close(); err != nil {
			st.warn("closing its log: %v", err)
		}
	}
	if ttyErr != nil {
		fmt.Fprintf(os.Stderr, "usandbox: %v\n", ttyErr)
	}
	if err != nil {
		return 0, err
	}
	if st.setupErr == nil && !st.started {
		st.setupErr = &ExitError{Code: 125, Msg: fmt.Sprintf("the sandbox's init failed before the command ran (%v)", ps)}
	}
	if st.setupErr != nil {
		// A new sandbox that never ran: nothing of it stays.
		st.removeDir = st.fresh || sb.AutoRemove
		return 0, st.setupErr
	}
	st.removeDir = sb.AutoRemove
	if keeperErr != nil && sb.AutoRemove {
		// Its upper layer is still there: leave the directory for
		// usandbox rm (or system check) rather than half of it.
		st.removeDir = false
		fmt.Fprintf(os.Stderr, "usandbox: removing sandbox %s failed (%v): remove it with usandbox rm %s\n", ShortID(sb.ID), keeperErr, ShortID(sb.ID))
	}
	code := userns.ExitStatus(ps)
	if timedOut.Load() {
		code = TimeoutStatus
	}
	oom := st.cg != nil && st.cg.OOMKilled()
	if oom {
		code = 137
	}
	record := func() error { return WriteExit(st.dir, code, oom) }
	if sb.AutoRemove {
		record = func() error { return writeRemovedExit(st.p, sb.ID, code, oom) }
	}
	Event(st.p, sb, "die", map[string]string{"exitCode": strconv.Itoa(code)})
	if err := record(); err != nil {
		fmt.Fprintf(os.Stderr, "usandbox: recording the exit status of %s: %v\n", ShortID(sb.ID), err)
	}
	trace.Mark("parent", "exit recorded")
	if oom {
		return 0, &ExitError{Code: 137, Msg: fmt.Sprintf("the sandbox ran out of memory (--memory %s) and was killed", humanBytes(sb.Limits.Memory))}
	}
	return code, nil
}
