//go:build seccomp && cgo

package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/sandbox/caps"
)

// The test binary re-executes itself as the process that loads a filter:
// a filter cannot be removed, and it must not reach the test's own
// threads.
const (
	childProgram = "USANDBOX_SECCOMP_TEST_PROGRAM"
	childMode    = "USANDBOX_SECCOMP_TEST_MODE"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childProgram); path != "" {
		os.Exit(child(path, os.Getenv(childMode)))
	}
	os.Exit(m.Run())
}

// probe is a system call the child makes under the filter.
type probe struct {
	name string
	call func() error
}

func raw(nr uintptr, args ...uintptr) func() error {
	return func() error {
		var a [6]uintptr
		copy(a[:], args)
		_, _, errno := unix.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		if errno != 0 {
			return errno
		}
		return nil
	}
}

var probes = []probe{
	{"io_uring_setup", raw(unix.SYS_IO_URING_SETUP, 1, 0)},
	{"perf_event_open", raw(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0)},
	{"add_key", raw(unix.SYS_ADD_KEY, 0, 0, 0, 0, 0)},
	{"keyctl", raw(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, 0, 0)},
	{"personality(ADDR_NO_RANDOMIZE)", raw(unix.SYS_PERSONALITY, 0x0040000)},
	{"personality(query)", raw(unix.SYS_PERSONALITY, 0xffffffff)},
	{"unshare(CLONE_NEWUSER)", raw(unix.SYS_UNSHARE, unix.CLONE_NEWUSER)},
	{"bpf", raw(unix.SYS_BPF, 0, 0, 0)},
	{"kexec_load", raw(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0)},
	{"open_by_handle_at", raw(unix.SYS_OPEN_BY_HANDLE_AT, 0, 0, 0)},
	{"file_getattr", raw(unix.SYS_FILE_GETATTR, ^uintptr(0), 0, 0, 0, 0)},
	{"syscall 1000", raw(1000)},
	{"getpid", raw(unix.SYS_GETPID)},
	{"getppid", raw(unix.SYS_GETPPID)},
	{"openat", func() error {
		fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}},
	// os/exec forks with clone(CLONE_VM|CLONE_VFORK|SIGCHLD) on this
	// (locked) thread; the command inherits the filter.
	{"clone+execve", func() error { return exec.Command("/bin/true").Run() }},
}

// child loads the program at path on its locked main thread, with
// no_new_privs as an unprivileged caller would, then makes the probes
// and prints each one's errno as JSON ("" for success). In mode "time"
// it prints how long Load took instead.
func child(path, mode string) int {
	runtime.LockOSThread()
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var prog Program
	if err := prog.UnmarshalBinary(data); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := time.Now()
	if err := Load(prog); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	took := time.Since(start)
	if mode == "time" {
		fmt.Println(took.Nanoseconds())
		return 0
	}
	results := make(map[string]string)
	for _, p := range probes {
		results[p.name] = errnoName(p.call())
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		return 2
	}
	return 0
}

func errnoName(err error) string {
	var errno unix.Errno
	switch {
	case err == nil:
		return ""
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// runChild runs the test binary as a child that loads prog.
func runChild(t *testing.T, prog Program, mode string) []byte {
	t.Helper()
	data, err := prog.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prog.bpf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childProgram+"="+path, childMode+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return out
}

func probeUnder(t *testing.T, prog Program) map[string]string {
	t.Helper()
	var results map[string]string
	if err := json.Unmarshal(runChild(t, prog, "probe"), &results); err != nil {
		t.Fatal(err)
	}
	return results
}

func requireAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skipf("the probes' expectations are written for amd64, not %s", runtime.GOARCH)
	}
}

func TestDefaultProfile(t *testing.T) {
	requireAMD64(t)
	prog, err := Compile(Default(), caps.Default)
	if err != nil {
		t.Fatal(err)
	}
	if prog.IsEmpty() {
		t.Fatal("empty program for docker's default profile")
	}
	// runc adds SPEC_ALLOW to a profile that names no flags, as under
	// docker.
	if prog.Flags != unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW {
		t.Errorf("flags %#x, want SECCOMP_FILTER_FLAG_SPEC_ALLOW", prog.Flags)
	}
	t.Logf("%d instructions", len(prog.Filter))
	got := probeUnder(t, prog)
	want := map[string]string{
		"io_uring_setup":                 "EPERM",
		"perf_event_open":                "EPERM",
		"add_key":                        "EPERM",
		"keyctl":                         "EPERM",
		"personality(ADDR_NO_RANDOMIZE)": "EPERM",
		"personality(query)":             "",
		"unshare(CLONE_NEWUSER)":         "EPERM",
		"bpf":                            "EPERM",
		"kexec_load":                     "EPERM",
		"open_by_handle_at":              "EPERM",
		// Newer than the profile (Linux 6.17), and beyond any
		// syscall: runc's patch answers ENOSYS.
		"file_getattr": "ENOSYS",
		"syscall 1000": "ENOSYS",
		"getpid":       "",
		"openat":       "",
		"clone+execve": "",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %q, want %q", name, got[name], w)
		}
	}
}

// TestWithoutFilter shows that the probes' failures come from the filter:
// without it, the blocked calls fail differently (or succeed) here.
func TestWithoutFilter(t *testing.T) {
	requireAMD64(t)
	got := probeUnder(t, Program{})
	for _, name := range []string{"personality(ADDR_NO_RANDOMIZE)", "file_getattr", "add_key", "bpf", "unshare(CLONE_NEWUSER)"} {
		if got[name] == "EPERM" || got[name] == "ENOSYS" {
			t.Errorf("%s without a filter: %q, so the test cannot tell the filter's answer", name, got[name])
		}
	}
}

func TestSysAdminAllowsMore(t *testing.T) {
	requireAMD64(t)
	prog, err := Compile(Default(), append(slices.Clone(caps.Default), "SYS_ADMIN"))
	if err != nil {
		t.Fatal(err)
	}
	got := probeUnder(t, prog)
	// With CAP_SYS_ADMIN docker's profile lets unshare and bpf through.
	if got["bpf"] == "EPERM" || got["getpid"] != "" {
		t.Errorf("unexpected results %v", got)
	}
	// The filter lets it through; the kernel refuses it to a
	// multithreaded process.
	if got["unshare(CLONE_NEWUSER)"] != "EINVAL" {
		t.Errorf("unshare(CLONE_NEWUSER) with CAP_SYS_ADMIN: %q, want the kernel's EINVAL", got["unshare(CLONE_NEWUSER)"])
	}
}

func TestProfileFile(t *testing.T) {
	requireAMD64(t)
	path := filepath.Join(t.TempDir(), "profile.json")
	profile := `{
	"defaultAction": "SCMP_ACT_ALLOW",
	"syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
}`
	if err := os.WriteFile(path, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := FromOption(path)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := probeUnder(t, prog)
	if got["getpid"] != "" || got["bpf"] == "EPERM" {
		t.Errorf("an allow-by-default profile blocked more: %v", got)
	}
	if got["getppid"] != "EACCES" {
		t.Errorf("getppid under the profile: %q, want EACCES", got["getppid"])
	}
}

func TestBrokenProfiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"truncated", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [", "line 3"},
		{"wrong type", `{"defaultAction": 1}`, "line 1, column 19"},
		{"no default action", `{"syscalls": []}`, "no defaultAction"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := FromFile(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got error %v, want one naming %s and saying %q", tc.name, err, path, tc.want)
		}
	}
	if _, err := FromFile(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Valid JSON, but an action libseccomp does not know: Compile says so.
	p, err := FromJSON("bogus.json", []byte(`{"defaultAction": "SCMP_ACT_BOGUS"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(p, nil); err == nil || !strings.Contains(err.Error(), "bogus.json") {
		t.Errorf("unknown action: got %v", err)
	}
}

func TestFromOption(t *testing.T) {
	for value, want := range map[string]string{"unconfined": "unconfined", "builtin": Default().String()} {
		p, err := FromOption(value)
		if err != nil || p.String() != want {
			t.Errorf("FromOption(%q) = %v, %v", value, p, err)
		}
	}
	if _, err := FromOption(""); err == nil {
		t.Error("FromOption(\"\") gave no error")
	}
	prog, err := Compile(Unconfined(), nil)
	if err != nil || !prog.IsEmpty() {
		t.Errorf("unconfined: %v, %v", prog, err)
	}
	if err := Load(prog); err != nil {
		t.Errorf("loading the empty program: %v", err)
	}
}

func TestCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "seccomp")
	c := NewCache(dir)
	// Cold: the program is compiled and stored.
	cold, err := c.Compile(Default(), caps.Default)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cold.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Warm, then with the capabilities in another order and spelling.
	// (Compared with the cold compile, not a fresh one: runc's stub
	// orders architectures by map iteration, see the package doc.)
	shuffled := capabilityNames(caps.Default)
	sort.Sort(sort.Reverse(sort.StringSlice(shuffled)))
	for i, capSet := range [][]string{caps.Default, shuffled} {
		prog, err := c.Compile(Default(), capSet)
		if err != nil {
			t.Fatal(err)
		}
		got, err := prog.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("warm compile %d: the program differs from the cold one", i)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.bpf"))
	if err != nil || len(files) != 1 {
		t.Fatalf("cache files %v, %v; want one", files, err)
	}
	defaultFile := files[0]
	onDisk, err := os.ReadFile(defaultFile)
	if err != nil || !bytes.Equal(onDisk, want) {
		t.Errorf("cache file differs from the program: %v", err)
	}
	// Another capability set is another program.
	if _, err := c.Compile(Default(), append(slices.Clone(caps.Default), "SYS_ADMIN")); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.bpf")); len(files) != 2 {
		t.Errorf("%d cache files after a second capability set, want 2", len(files))
	}
	// A damaged file is replaced, not believed.
	if err := os.WriteFile(defaultFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	prog, err := c.Compile(Default(), caps.Default)
	if err != nil {
		t.Fatal(err)
	}
	rewritten, err := os.ReadFile(defaultFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := prog.MarshalBinary(); prog.IsEmpty() || !bytes.Equal(got, rewritten) {
		t.Error("a damaged cache file was believed, or not replaced")
	}
}

func TestMarshal(t *testing.T) {
	p := Program{Flags: 4, Filter: []Instruction{{Code: 6, Jt: 1, Jf: 2, K: 0x7fff0000}, {Code: 0x20, K: 4}}}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q Program
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if q.Flags != p.Flags || !slices.Equal(q.Filter, p.Filter) {
		t.Errorf("round trip: %+v, want %+v", q, p)
	}
	for _, bad := range [][]byte{nil, []byte("usbxbpf1"), append(slices.Clone(b), 0)} {
		if err := q.UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%q) gave no error", bad)
		}
	}
}

// TestCompileLeavesCallerAlone checks that compiling leaves no filter in
// the calling process: the thread that carried the interception filter
// is gone once Compile returns (the runtime ends it shortly after).
func TestCompileLeavesCallerAlone(t *testing.T) {
	if _, err := Compile(Default(), caps.Default); err != nil {
		t.Fatal(err)
	}
	var filtered []string
	for range 100 {
		filtered = filtered[:0]
		tasks, err := filepath.Glob("/proc/self/task/*/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			status, err := os.ReadFile(task)
			if err != nil {
				continue // the thread ended meanwhile
			}
			for _, line := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(line, "Seccomp:"); ok && strings.TrimSpace(v) != "0" {
					filtered = append(filtered, task)
				}
			}
		}
		if len(filtered) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("threads still under a filter after Compile: %v", filtered)
}

// TestTimings prints the medians the package's documentation quotes. Run
// with USANDBOX_SECCOMP_TIMINGS=1.
func TestTimings(t *testing.T) {
	if os.Getenv("USANDBOX_SECCOMP_TIMINGS") == "" {
		t.Skip("set USANDBOX_SECCOMP_TIMINGS=1 to measure")
	}
	const n = 50
	median := func(f func()) time.Duration {
		var d []time.Duration
		for range n {
			start := time.Now()
			f()
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d[n/2]
	}
	var prog Program
	compile := median(func() {
		var err error
		if prog, err = Compile(Default(), caps.Default); err != nil {
			t.Fatal(err)
		}
	})
	c := NewCache(t.TempDir())
	if _, err := c.Compile(Default(), caps.Default); err != nil {
		t.Fatal(err)
	}
	cached := median(func() {
		if _, err := c.Compile(Default(), caps.Default); err != nil {
			t.Fatal(err)
		}
	})
	var loads []time.Duration
	for range n {
		var ns int64
		if _, err := fmt.Sscan(string(runChild(t, prog, "time")), &ns); err != nil {
			t.Fatal(err)
		}
		loads = append(loads, time.Duration(ns))
	}
	slices.Sort(loads)
	t.Logf("median of %d: Compile %v, Cache.Compile (hit) %v, Load %v; %d instructions", n, compile, cached, loads[n/2], len(prog.Filter))
}

// TestCompileDuringGC compiles while the garbage collector stops the
// world again and again: the thread blocked in the intercepted call must
// not hold up a stop-the-world that the listener then waits for.
func TestCompileDuringGC(t *testing.T) {
	stop := make(chan struct{})
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-gcDone }()
	for range 20 {
		if _, err := Compile(Default(), caps.Default); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompileUnderSignals compiles while the process receives a stream
// of signals: one handled on the thread waiting for the listener would
// cancel the notification.
func TestCompileUnderSignals(t *testing.T) {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, unix.SIGWINCH)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-sigs:
			default:
				unix.Kill(os.Getpid(), unix.SIGWINCH)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for range 10 {
		if _, err := Compile(Default(), caps.Default); err != nil {
			t.Fatal(err)
		}
	}
}
