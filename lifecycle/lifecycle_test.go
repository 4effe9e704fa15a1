package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/network"
	"usandbox/sandbox"
	"usandbox/storage/index"
	"usandbox/userns"
)

// fakeHost runs no process: a "running" sandbox is one whose lock the
// fake holds, as a watcher would; a signal that ends it records the exit
// and frees the lock, as the watcher does once the init is dead.
type fakeHost struct {
	t          *testing.T
	mu         sync.Mutex
	held       map[string]*os.File // sandbox dir → its lock, taken
	calls      []string            // "start ID", "signal ID 15", "killall ID", "remove ID"
	ignoreTERM bool                // the command ignores SIGTERM
}

func newFakeHost(t *testing.T) *fakeHost { return &fakeHost{t: t, held: map[string]*os.File{}} }

func (h *fakeHost) record(format string, a ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf(format, a...))
}

func (h *fakeHost) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

func (h *fakeHost) Start(p index.Paths, sb *Sandbox) error {
	h.record("start %s", sb.ID)
	lock := sb.HeldLock()
	if lock == nil {
		f, err := os.OpenFile(filepath.Join(sb.Dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return sandbox.ErrRunning
		}
		lock = f
	}
	h.mu.Lock()
	h.held[sb.Dir] = lock
	h.mu.Unlock()
	// What sandbox.Start records once the command runs.
	started := fmt.Sprintf("%d %d %d\n", os.Getpid(), time.Now().UnixNano(), os.Getpid())
	if err := os.WriteFile(filepath.Join(sb.Dir, "started"), []byte(started), 0o600); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(sb.Dir, "exit")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// exit ends a running sandbox with code.
func (h *fakeHost) exit(sb *Sandbox, code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lock := h.held[sb.Dir]
	if lock == nil {
		return
	}
	if err := sandbox.WriteExit(sb.Dir, code, false); err != nil {
		h.t.Errorf("recording the exit: %v", err)
	}
	lock.Close()
	delete(h.held, sb.Dir)
}

func (h *fakeHost) Run(p index.Paths, sb *Sandbox, s Streams) (int, error) {
	if err := h.Start(p, sb); err != nil {
		return 0, err
	}
	h.exit(sb, 3)
	return 3, nil
}

func (h *fakeHost) Exec(p index.Paths, sb *Sandbox, o ExecOptions) (int, error) {
	h.record("exec %s %s", sb.ID, strings.Join(o.Args, " "))
	if !sb.State.Running {
		return 0, fmt.Errorf("%w: %s", sandbox.ErrNotRunning, sandbox.ShortID(sb.ID))
	}
	return 0, nil
}

func (h *fakeHost) Signal(sb *Sandbox, sig Signal) error {
	h.record("signal %s %d", sb.ID, sig)
	if sig == SIGKILL || (sig == SIGTERM && !h.ignoreTERM) {
		h.exit(sb, 128+int(sig))
	}
	return nil
}

func (h *fakeHost) KillAll(sb *Sandbox) {
	h.record("killall %s", sb.ID)
	h.exit(sb, 137)
}

func (h *fakeHost) RemoveDir(dir string) error {
	h.record("remove %s", filepath.Base(dir))
	return os.RemoveAll(dir)
}

// testEngine is an Engine on a new store, with a fake host.
func testEngine(t *testing.T) (*Engine, *fakeHost) {
	t.Helper()
	dir := t.TempDir()
	p := index.Paths{Root: filepath.Join(dir, "root"), RunRoot: filepath.Join(dir, "run")}
	h := newFakeHost(t)
	e := newEngine(p, h, func() (*userns.Plan, error) { return &userns.Plan{Mode: userns.Root}, nil })
	e.poll = time.Millisecond
	return e, h
}

// create makes a sandbox in e's store, as sandbox.Create does for run.
func create(t *testing.T, e *Engine, name string) *Sandbox {
	t.Helper()
	netw, err := network.ParseNetwork(network.None)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.Create(sandbox.Options{
		Paths: e.paths, Name: name, ImageRef: "test",
		Index:   &index.Index{Driver: "overlay", Home: filepath.Join(e.paths.Root, "storage")},
		Image:   &index.Image{ID: "img" + name, Config: index.Config{Cmd: []string{"true"}}},
		Network: netw, NetworkRaw: network.None,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// running makes a started sandbox.
func running(t *testing.T, e *Engine, name string) *Sandbox {
	t.Helper()
	sb := create(t, e, name)
	if err := e.StartCreated(context.Background(), sb); err != nil {
		t.Fatal(err)
	}
	return sb
}

func state(t *testing.T, e *Engine, ref string) sandbox.State {
	t.Helper()
	sb, err := e.Inspect(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return sb.State
}

func TestStateMachine(t *testing.T) {
	ctx := context.Background()
	e, h := testEngine(t)
	sb := create(t, e, "one")
	if st := state(t, e, "one"); st.Status != sandbox.StatusCreated || st.Running {
		t.Fatalf("after create: %+v", st)
	}
	if err := e.Stop(ctx, "one", time.Second); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stop of a created sandbox: %v, want ErrNotRunning", err)
	}
	if err := e.StartCreated(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if st := state(t, e, "one"); st.Status != sandbox.StatusRunning || !st.Running {
		t.Fatalf("after start: %+v", st)
	}
	if _, err := e.Start(ctx, "one"); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("start of a running sandbox: %v, want ErrAlreadyRunning", err)
	}
	if err := e.Remove(ctx, "one", RemoveOptions{}); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "rm -f") {
		t.Fatalf("rm of a running sandbox: %v, want ErrConflict saying rm -f", err)
	}
	if err := e.Stop(ctx, "one", time.Second); err != nil {
		t.Fatal(err)
	}
	if st := state(t, e, "one"); st.Status != sandbox.StatusExited || st.ExitCode != 143 {
		t.Fatalf("after stop: %+v, want exited 143", st)
	}
	if code, err := e.Wait(ctx, "one"); err != nil || code != 143 {
		t.Fatalf("wait: %d %v", code, err)
	}
	// Started again: the previous exit goes.
	if _, err := e.Start(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if st := state(t, e, "one"); !st.Running {
		t.Fatalf("after the second start: %+v", st)
	}
	if err := e.Kill(ctx, "one", SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove(ctx, "one", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Inspect(ctx, "one"); !errors.Is(err, ErrNotFound) || !errors.Is(err, sandbox.ErrNoSuchSandbox) {
		t.Fatalf("after rm: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(opLockPath(e.paths, sb.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rm left its operation lock: %v", err)
	}
	want := []string{"start " + sb.ID, "signal " + sb.ID + " 15", "start " + sb.ID, "killall " + sb.ID, "signal " + sb.ID + " 9", "remove " + sb.ID}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
}

// TestStopEscalates: a command that ignores SIGTERM is killed, every
// process at once, after the grace period; not before.
func TestStopEscalates(t *testing.T) {
	e, h := testEngine(t)
	h.ignoreTERM = true
	var warned []string
	e.Warn = func(m string) { warned = append(warned, m) }
	sb := running(t, e, "stubborn")
	begin := time.Now()
	if err := e.Stop(context.Background(), "stubborn", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < 100*time.Millisecond {
		t.Errorf("killed after %v, before the grace period", d)
	}
	want := []string{"start " + sb.ID, "signal " + sb.ID + " 15", "killall " + sb.ID, "signal " + sb.ID + " 9"}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
	if st := state(t, e, "stubborn"); st.Running || st.ExitCode != 137 {
		t.Errorf("after stop: %+v", st)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "failed to stop sandbox stubborn in 0 seconds, resorting to SIGKILL") {
		t.Errorf("warnings: %q", warned)
	}
}

// TestStopZeroGrace: stop -t 0 kills at once, with no SIGTERM.
func TestStopZeroGrace(t *testing.T) {
	e, h := testEngine(t)
	e.Warn = func(m string) { t.Errorf("stop -t 0 warned: %s", m) }
	sb := running(t, e, "now")
	if err := e.Stop(context.Background(), "now", 0); err != nil {
		t.Fatal(err)
	}
	want := []string{"start " + sb.ID, "killall " + sb.ID, "signal " + sb.ID + " 9"}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
}

func TestRemoveForce(t *testing.T) {
	ctx := context.Background()
	e, h := testEngine(t)
	sb := running(t, e, "doomed")
	if err := e.Remove(ctx, sb.ID[:8], RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rm -f left the directory: %v", err)
	}
	want := []string{"start " + sb.ID, "killall " + sb.ID, "signal " + sb.ID + " 9", "remove " + sb.ID}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
}

// TestKillNotRunning: signals need a running sandbox.
func TestKillNotRunning(t *testing.T) {
	e, h := testEngine(t)
	create(t, e, "idle")
	for _, sig := range []Signal{SIGTERM, SIGKILL} {
		if err := e.Kill(context.Background(), "idle", sig); !errors.Is(err, ErrNotRunning) {
			t.Errorf("kill -%d of a created sandbox: %v, want ErrNotRunning", sig, err)
		}
	}
	if _, err := e.Exec(context.Background(), "idle", ExecOptions{Args: []string{"true"}}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("exec in a created sandbox: %v, want ErrNotRunning", err)
	}
	for _, c := range h.Calls() {
		if strings.HasPrefix(c, "signal") || strings.HasPrefix(c, "killall") {
			t.Errorf("a stopped sandbox was signalled: %q", c)
		}
	}
}

// TestOperationsSerialize: an operation waits for another on the same
// sandbox (as long as its context allows), Kill does not.
func TestOperationsSerialize(t *testing.T) {
	e, h := testEngine(t)
	sb := running(t, e, "busy")
	unlock, err := opLock(context.Background(), e.paths, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Stop(ctx, "busy", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop while another operation holds the sandbox: %v, want a timeout", err)
	}
	if err := e.Remove(ctx, "busy", RemoveOptions{Force: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("rm while another operation holds the sandbox: %v, want a timeout", err)
	}
	if err := e.Kill(context.Background(), "busy", SIGTERM); err != nil {
		t.Fatalf("kill while another operation holds the sandbox: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Remove(context.Background(), "busy", RemoveOptions{}) }()
	select {
	case err := <-done:
		t.Fatalf("rm did not wait for the lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("rm after the lock was released: %v", err)
	}
	if n := len(h.Calls()); n != 3 { // start, signal, remove
		t.Errorf("host calls: %q", h.Calls())
	}
}

// TestOpLockOfRemovedFile: a waiter whose lock file is removed under it
// (the sandbox was removed) locks the file now at the path, so that two
// operations never hold "the" lock at once.
func TestOpLockOfRemovedFile(t *testing.T) {
	e, _ := testEngine(t)
	ctx := context.Background()
	unlock, err := opLock(ctx, e.paths, "x")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		u, err := opLock(ctx, e.paths, "x")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	time.Sleep(20 * time.Millisecond) // the waiter has opened the file
	removeOpLock(e.paths, "x")
	unlock()
	u := <-got
	defer u()
	// A third taker must wait: the second holds the file at the path.
	ctx3, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if u3, err := opLock(ctx3, e.paths, "x"); err == nil {
		u3()
		t.Fatal("two operations held the lock at once: the waiter locked the removed file")
	}
}

func TestWaitHonoursContext(t *testing.T) {
	e, _ := testEngine(t)
	running(t, e, "long")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := e.Wait(ctx, "long"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait: %v, want a timeout", err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	e, h := testEngine(t)
	a := create(t, e, "a")
	a.HeldLock().Close() // as when its creator exits
	b := running(t, e, "b")
	c := running(t, e, "c")
	h.exit(c, 0)
	removed, err := e.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{a.ID, c.ID}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Fatalf("pruned %q, want %q", removed, want)
	}
	if _, err := e.Inspect(ctx, b.ID); err != nil {
		t.Fatalf("prune removed a running sandbox: %v", err)
	}
}

func TestRunForeground(t *testing.T) {
	e, _ := testEngine(t)
	sb := create(t, e, "fg")
	code, err := e.Run(context.Background(), sb, Streams{})
	if err != nil || code != 3 {
		t.Fatalf("run: %d %v", code, err)
	}
	if st := state(t, e, "fg"); st.Status != sandbox.StatusExited || st.ExitCode != 3 {
		t.Fatalf("after run: %+v", st)
	}
}

func TestCreateUnknownImage(t *testing.T) {
	e, _ := testEngine(t)
	_, err := e.Create(context.Background(), CreateOptions{ImageRef: "nosuch"}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("create from an unknown image: %v, want ErrNotFound", err)
	}
	if known, err := e.ImageKnown("nosuch"); known || err != nil {
		t.Fatalf("ImageKnown: %v %v", known, err)
	}
}

func TestLookupErrors(t *testing.T) {
	e, _ := testEngine(t)
	create(t, e, "x")
	create(t, e, "y")
	if _, err := e.Lookup(context.Background(), "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown sandbox: %v", err)
	}
	// Two IDs share a first hex digit more often than not; a prefix of
	// both is ambiguous whenever they do.
	all, _ := sandbox.List(e.paths)
	if all[0].ID[0] == all[1].ID[0] {
		if _, err := e.Lookup(context.Background(), all[0].ID[:1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("ambiguous prefix: %v", err)
		}
	}
	// A name in use is a conflict.
	netw, _ := network.ParseNetwork(network.None)
	_, err := sandbox.Create(sandbox.Options{
		Paths: e.paths, Name: "x", ImageRef: "test",
		Index: &index.Index{Driver: "overlay"}, Image: &index.Image{ID: "i", Config: index.Config{Cmd: []string{"true"}}},
		Network: netw,
	})
	if !errors.Is(classify(err), ErrConflict) {
		t.Errorf("name in use: %v", err)
	}
}

// TestKinds: every error a lower package returns that a front end
// branches on has exactly one kind, and keeps its message.
func TestKinds(t *testing.T) {
	for _, tt := range []struct {
		err  error
		kind error
	}{
		{fmt.Errorf("%w: abc", sandbox.ErrNoSuchSandbox), ErrNotFound},
		{fmt.Errorf("%w: busybox", index.ErrImageUnknown), ErrNotFound},
		{fmt.Errorf("%w: abc", sandbox.ErrAmbiguous), ErrInvalid},
		{sandbox.ErrNoCommand, ErrInvalid},
		{fmt.Errorf("%w: x", sandbox.ErrNameInUse), ErrConflict},
		{fmt.Errorf("%w: x", sandbox.ErrDamaged), ErrConflict},
		{fmt.Errorf("%w: x", sandbox.ErrRunning), ErrConflict},
		{fmt.Errorf("%w: x", sandbox.ErrNotRunning), ErrNotRunning},
		{fmt.Errorf("planning: %w", &userns.HostError{Cause: "no subuid", Fix: "usermod"}), ErrHostCannot},
		{errors.New("disk full"), nil},
		{nil, nil},
	} {
		got := classify(tt.err)
		if k := Kind(got); k != tt.kind {
			t.Errorf("Kind(%v) = %v, want %v", tt.err, k, tt.kind)
		}
		if tt.err != nil && got.Error() != tt.err.Error() {
			t.Errorf("classify changed the message: %q → %q", tt.err, got)
		}
		if tt.err != nil && !errors.Is(got, tt.err) {
			t.Errorf("classify hid %v", tt.err)
		}
	}
}

func TestParsers(t *testing.T) {
	for _, s := range []string{"KILL", "SIGKILL", "kill", "9"} {
		if sig, err := ParseSignal(s); err != nil || sig != SIGKILL {
			t.Errorf("ParseSignal(%q) = %v, %v", s, sig, err)
		}
	}
	for _, s := range []string{"NOPE", "0", "", "SIG"} {
		if _, err := ParseSignal(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSignal(%q): %v, want ErrInvalid", s, err)
		}
	}
	n := int64(1)
	if _, err := ParseLimits(LimitFlags{CPUShares: &n}); !errors.Is(err, ErrInvalid) {
		t.Errorf("--cpu-shares 1: %v, want ErrInvalid", err)
	}
	if _, err := ParseLimits(LimitFlags{MemorySwap: "1g"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("--memory-swap without --memory: %v, want ErrInvalid", err)
	}
	l, err := ParseLimits(LimitFlags{Memory: "512m", PidsLimit: &n})
	if err != nil || l.Memory != 512<<20 || l.PidsLimit != 1 {
		t.Errorf("ParseLimits: %+v %v", l, err)
	}
	if _, err := ParseDNS("not-an-ip"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseDNS: %v", err)
	}
}

// TestLogsFollowAndAttach: logs emits what the log holds (the rotated
// part first, then the tail asked for); with Follow, and Attach, what is
// written while the sandbox runs, until it stops; Attach then returns its
// exit status.
func TestLogsFollowAndAttach(t *testing.T) {
	ctx := context.Background()
	e, h := testEngine(t)
	sb := running(t, e, "talk")
	path := filepath.Join(sb.Dir, sandbox.LogFile)
	log, err := sandbox.NewLogWriter(path, sandbox.DefaultLogMax)
	if err != nil {
		t.Fatal(err)
	}
	log.Copy("stdout", strings.NewReader("one\ntwo\n"))
	log.Copy("stderr", strings.NewReader("three\n"))
	var got []string
	emit := func(en LogEntry) { got = append(got, en.Stream+":"+en.Text) }
	if err := e.Logs(ctx, "talk", LogOptions{Tail: 2}, emit); err != nil {
		t.Fatal(err)
	}
	if want := []string{"stdout:two", "stderr:three"}; !slices.Equal(got, want) {
		t.Fatalf("logs --tail 2: %q, want %q", got, want)
	}

	type result struct {
		lines []string
		code  int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var lines []string
		code, err := e.Attach(ctx, "talk", func(en LogEntry) { lines = append(lines, en.Text) })
		done <- result{lines, code, err}
	}()
	time.Sleep(100 * time.Millisecond) // attached
	log.Copy("stdout", strings.NewReader("four\n"))
	time.Sleep(100 * time.Millisecond)
	log.Close()
	h.exit(sb, 7)
	select {
	case r := <-done:
		if r.err != nil || r.code != 7 || !slices.Equal(r.lines, []string{"four"}) {
			t.Fatalf("attach: %q, status %d, %v; want [four], 7", r.lines, r.code, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("attach did not end when the sandbox stopped")
	}
	if _, err := e.Attach(ctx, "talk", emit); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("attach to a stopped sandbox: %v, want ErrNotRunning", err)
	}
}

// TestRemoveForceWhileFinishing: rm -f of a sandbox whose command has just
// ended but whose watcher still holds it (recording the exit, applying the
// restart policy) waits for the watcher instead of failing with
// "running" (CI caught system reset doing so).
func TestRemoveForceWhileFinishing(t *testing.T) {
	e, h := testEngine(t)
	sb := running(t, e, "fin")
	// The command ended (exit recorded), the watcher holds on a while.
	if err := sandbox.WriteExit(sb.Dir, 0, false); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.mu.Lock()
		h.held[sb.Dir].Close()
		delete(h.held, sb.Dir)
		h.mu.Unlock()
	}()
	if err := e.Remove(context.Background(), "fin", RemoveOptions{Force: true}); err != nil {
		t.Fatalf("rm -f of a finishing sandbox: %v", err)
	}
	if _, err := e.Lookup(context.Background(), "fin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after rm -f: %v", err)
	}
}
