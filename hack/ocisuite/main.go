// Command ocisuite runs opencontainers/runtime-tools' validation programs
// (validation/*/*.t) against OCI runtimes side by side, as root and as an
// unprivileged user, reads each program's TAP 13 and prints a table: one
// row per program, one column per runtime and mode.
//
// The first runtime is the reference (runc); for each mode, ocisuite says
// whether every other runtime passes every program the reference passes,
// and exits 1 when one does not, so CI can gate on it. hack/test-oci.sh
// builds the suite and runs this; see there for the setup.
//
// Exit status: 0 when the goal holds (or only one runtime ran), 1 when a
// runtime fails a program the reference passes, 2 when nothing could run.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// A runtime under test: its name in the table and its binary.
type runtimeSpec struct {
	Name, Path string
}

// A column: one runtime in one mode.
type column struct {
	Runtime runtimeSpec
	Mode    string // "root" or "rootless"
	Results map[string]Verdict
	Wall    time.Duration
	Cleanup string // what was left behind and cleaned up after it
}

func (c *column) title() string { return c.Runtime.Name + "/" + c.Mode }

// runAs is who runs the programs of a mode and where.
type runAs struct {
	suite string              // the runtime-tools tree: cwd of every program
	cred  *syscall.Credential // nil: as the harness itself
	env   func(rt string) []string
}

type options struct {
	suite, userSuite string
	runtimes, modes  string
	user, wrapper    string
	logs             string
	timeout          time.Duration
	run              string
	known            string
}

func main() {
	var o options
	flag.StringVar(&o.suite, "suite", "", "the built runtime-tools tree (runtimetest, rootfs-amd64.tar.gz, validation/*/*.t), run as root")
	flag.StringVar(&o.userSuite, "user-suite", "", "the test user's own copy of that tree, for mode rootless (default: -suite)")
	flag.StringVar(&o.runtimes, "runtimes", os.Getenv("RUNTIMES"), `runtimes, "name=path ..."; the first is the reference (env RUNTIMES)`)
	flag.StringVar(&o.modes, "modes", envOr("MODES", "root rootless"), "modes to run: root, rootless (env MODES)")
	flag.StringVar(&o.user, "user", envOr("USANDBOX_TEST_USER", "usandbox-test"), "the unprivileged user of mode rootless, when run as root")
	flag.StringVar(&o.wrapper, "wrapper", "", "mode rootless: the RUNTIME wrapper that adds a user namespace (hack/ocisuite/rootless-runtime.sh)")
	flag.StringVar(&o.logs, "logs", "", "directory for each program's TAP (NAME.tap) and stderr (NAME.stderr), one folder per column")
	flag.DurationVar(&o.timeout, "timeout", 120*time.Second, "per-program timeout; the program's process group is killed then")
	flag.StringVar(&o.run, "run", "", "only programs whose name matches this regular expression")
	flag.StringVar(&o.known, "known", "", `file of known gaps, lines "MODE PROGRAM REASON": programs the reference passes and the others do not, for that reason; they do not fail the goal`)
	flag.Parse()
	code, err := run(o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocisuite:", err)
	}
	os.Exit(code)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(o options, stdout io.Writer) (int, error) {
	if o.suite == "" || o.logs == "" {
		return 2, errors.New("-suite and -logs are required")
	}
	if o.userSuite == "" {
		o.userSuite = o.suite
	}
	filter, err := regexp.Compile(o.run)
	if err != nil {
		return 2, fmt.Errorf("-run: %w", err)
	}
	tests, err := listTests(o.suite, filter)
	if err != nil {
		return 2, err
	}
	runtimes, err := parseRuntimes(o.runtimes)
	if err != nil {
		return 2, err
	}
	if err := os.MkdirAll(o.logs, 0o755); err != nil {
		return 2, err
	}
	report, err := os.Create(filepath.Join(o.logs, "report.txt"))
	if err != nil {
		return 2, err
	}
	defer report.Close()
	out := io.MultiWriter(stdout, report)

	var cols []*column
	for _, mode := range strings.Fields(strings.ReplaceAll(o.modes, ",", " ")) {
		as, err := setupMode(mode, o)
		if err != nil {
			fmt.Fprintf(out, "mode %s skipped: %v\n", mode, err)
			continue
		}
		for _, rt := range runtimes {
			if _, err := os.Stat(rt.Path); err != nil {
				fmt.Fprintf(out, "runtime %s skipped in mode %s: %s does not exist\n", rt.Name, mode, rt.Path)
				continue
			}
			c := &column{Runtime: rt, Mode: mode, Results: map[string]Verdict{}}
			if err := runColumn(c, as, tests, o); err != nil {
				return 2, err
			}
			cols = append(cols, c)
		}
	}
	if len(cols) == 0 {
		return 2, errors.New("no runtime ran in any mode")
	}
	printWhy(out, cols, tests)
	printTable(out, cols, tests)
	fmt.Fprintf(out, "logs: %s\n", o.logs)
	known, err := readKnown(o.known)
	if err != nil {
		return 2, err
	}
	if !printGoal(out, cols, tests, runtimes[0].Name, known) {
		return 1, nil
	}
	return 0, nil
}

// listTests finds the validation programs, named by their directory.
func listTests(suite string, filter *regexp.Regexp) ([]string, error) {
	for _, f := range []string{"runtimetest", "rootfs-amd64.tar.gz"} {
		if _, err := os.Stat(filepath.Join(suite, f)); err != nil {
			return nil, fmt.Errorf("suite %s is not built: %w", suite, err)
		}
	}
	paths, err := filepath.Glob(filepath.Join(suite, "validation", "*", "*.t"))
	if err != nil {
		return nil, err
	}
	var tests []string
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".t")
		if filepath.Base(filepath.Dir(p)) == name && filter.MatchString(name) {
			tests = append(tests, name)
		}
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("no validation/*/*.t in %s matches -run %q", suite, filter)
	}
	sort.Strings(tests)
	return tests, nil
}

// parseRuntimes reads "name=path ..." (a bare path is named by its base).
func parseRuntimes(s string) ([]runtimeSpec, error) {
	var rts []runtimeSpec
	for _, f := range strings.Fields(s) {
		name, path, ok := strings.Cut(f, "=")
		if !ok {
			name, path = filepath.Base(f), f
		}
		if name == "" || path == "" {
			return nil, fmt.Errorf("runtime %q: want name=path", f)
		}
		if !strings.Contains(path, "/") {
			if p, err := exec.LookPath(path); err == nil {
				path = p
			}
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		rts = append(rts, runtimeSpec{name, abs})
	}
	if len(rts) == 0 {
		return nil, errors.New(`no runtime: set RUNTIMES="runc=/usr/sbin/runc ..." or -runtimes`)
	}
	return rts, nil
}

// setupMode says who runs a mode's programs, where, with what environment.
// root: the harness (which must be root) in -suite, RUNTIME the runtime.
// rootless: the test user (or the harness itself when it is not root) in
// -user-suite, RUNTIME the wrapper and OCISUITE_RUNTIME the runtime.
func setupMode(mode string, o options) (runAs, error) {
	switch mode {
	case "root":
		if os.Geteuid() != 0 {
			return runAs{}, errors.New("needs root")
		}
		base := withoutEnv(os.Environ(), "RUNTIME", "OCISUITE_RUNTIME")
		return runAs{suite: o.suite, env: func(rt string) []string {
			return append(base[:len(base):len(base)], "RUNTIME="+rt)
		}}, nil
	case "rootless":
		if o.wrapper == "" {
			return runAs{}, errors.New("needs -wrapper")
		}
		wrapper, err := filepath.Abs(o.wrapper)
		if err != nil {
			return runAs{}, err
		}
		u, err := user.Current()
		if err != nil {
			return runAs{}, err
		}
		var cred *syscall.Credential
		if os.Geteuid() == 0 {
			if u, err = user.Lookup(o.user); err != nil {
				return runAs{}, fmt.Errorf("test user: %w (hack/testuser.sh creates it)", err)
			}
			if cred, err = credential(u); err != nil {
				return runAs{}, err
			}
		}
		base := []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username,
			"XDG_RUNTIME_DIR=/run/user/" + u.Uid,
		}
		return runAs{suite: o.userSuite, cred: cred, env: func(rt string) []string {
			return append(base[:len(base):len(base)], "RUNTIME="+wrapper, "OCISUITE_RUNTIME="+rt)
		}}, nil
	}
	return runAs{}, fmt.Errorf("unknown mode %q (want root or rootless)", mode)
}

func credential(u *user.User) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", u.Username, err)
	}
	var groups []uint32
	for _, s := range ids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, err
		}
		groups = append(groups, uint32(g))
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, nil
}

func withoutEnv(env []string, keys ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, key := range keys {
			drop = drop || k == key
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// runColumn runs every program, one after another (they share fixed
// cgroup names such as "cgrouptest"), and logs each one's output.
func runColumn(c *column, as runAs, tests []string, o options) error {
	dir := filepath.Join(o.logs, c.Runtime.Name+"."+c.Mode)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The column's own TMPDIR, where the programs make their bundles
	// (cleanup.go says why). Mode 1777 as /tmp's: a bundle must stay
	// reachable from a user namespace whose root is not the host's.
	tmp, err := os.MkdirTemp("", "ocisuite-"+c.Runtime.Name+"."+c.Mode+"-")
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
		return err
	}
	if as.cred != nil {
		if err := os.Chown(tmp, int(as.cred.Uid), int(as.cred.Gid)); err != nil {
			return err
		}
	}
	env := append(as.env(c.Runtime.Path), "TMPDIR="+tmp)
	start := time.Now()
	for i, name := range tests {
		t0 := time.Now()
		v, err := runProgram(filepath.Join(dir, name), name, as, env, o.timeout)
		if err != nil {
			return err
		}
		c.Results[name] = v
		fmt.Fprintf(os.Stderr, "%s [%d/%d] %-32s %-12s %5.1fs %s\n", c.title(), i+1, len(tests), name, v.Cell,
			time.Since(t0).Seconds(), v.Why)
	}
	c.Wall = time.Since(start)
	if done := cleanupColumn(c.Runtime.Path, as, env, tmp); done != "" {
		c.Cleanup = done
		fmt.Fprintf(os.Stderr, "%s: cleanup: %s\n", c.title(), done)
	}
	return nil
}

// runProgram runs one validation program in its own process group with
// stdout (its TAP) and stderr going straight to LOG.tap and LOG.stderr,
// kills the group at the timeout, and judges what it printed.
func runProgram(log, name string, as runAs, env []string, timeout time.Duration) (Verdict, error) {
	tapFile, err := os.Create(log + ".tap")
	if err != nil {
		return Verdict{}, err
	}
	defer tapFile.Close()
	errFile, err := os.Create(log + ".stderr")
	if err != nil {
		return Verdict{}, err
	}
	defer errFile.Close()

	cmd := exec.Command(filepath.Join(as.suite, "validation", name, name+".t"))
	cmd.Dir = as.suite
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = tapFile, errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: as.cred}

	var e Exit
	if err := cmd.Start(); err != nil {
		e.StartErr = err
	} else {
		var timedOut atomic.Bool
		pgid := cmd.Process.Pid
		timer := time.AfterFunc(timeout, func() {
			timedOut.Store(true)
			// Every process of the group: the program, the runtime it
			// called, a helper like unshare's sleep.
			_ = syscall.Kill(-pgid, syscall.SIGKILL) // ESRCH: already gone
		})
		err := cmd.Wait()
		timer.Stop()
		e.TimedOut = timedOut.Load()
		var xe *exec.ExitError
		switch {
		case errors.As(err, &xe):
			ws, _ := xe.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				e.Signal = ws.Signal().String()
			} else {
				e.Code = ws.ExitStatus()
			}
		case err != nil:
			return Verdict{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	if _, err := tapFile.Seek(0, io.SeekStart); err != nil {
		return Verdict{}, err
	}
	tap, err := ParseTAP(tapFile)
	if err != nil {
		return Verdict{}, fmt.Errorf("%s: reading its TAP: %w", name, err)
	}
	return Judge(tap, e), nil
}

// printWhy prints, per column, one line for every program that did not pass.
func printWhy(w io.Writer, cols []*column, tests []string) {
	for _, c := range cols {
		fmt.Fprintf(w, "\n%s: programs that did not pass\n", c.title())
		n := 0
		for _, name := range tests {
			if v := c.Results[name]; v.Status != Pass {
				fmt.Fprintf(w, "  %-32s %-12s %s\n", name, v.Cell, v.Why)
				n++
			}
		}
		if n == 0 {
			fmt.Fprintln(w, "  none")
		}
	}
	for _, c := range cols {
		if c.Cleanup != "" {
			fmt.Fprintf(w, "%s: cleanup after the column: %s\n", c.title(), c.Cleanup)
		}
	}
	fmt.Fprintln(w)
}

func printTable(w io.Writer, cols []*column, tests []string) {
	width := len("program")
	for _, t := range tests {
		width = max(width, len(t))
	}
	cw := make([]int, len(cols))
	for i, c := range cols {
		cw[i] = max(len(c.title()), len("TIMEOUT"), len("FAIL(000/000)"))
	}
	row := func(first string, cells func(i int, c *column) string) {
		fmt.Fprintf(w, "%-*s", width, first)
		for i, c := range cols {
			fmt.Fprintf(w, "  %-*s", cw[i], cells(i, c))
		}
		fmt.Fprintln(w)
	}
	row("program", func(_ int, c *column) string { return c.title() })
	for _, t := range tests {
		row(t, func(_ int, c *column) string { return c.Results[t].Cell })
	}
	row("passed", func(_ int, c *column) string { return fmt.Sprintf("%d/%d", passCount(c, tests), len(tests)) })
	row("wall", func(_ int, c *column) string { return c.Wall.Round(100 * time.Millisecond).String() })
}

func passCount(c *column, tests []string) int {
	n := 0
	for _, t := range tests {
		if c.Results[t].Status == Pass {
			n++
		}
	}
	return n
}

// printGoal prints, per mode, whether each runtime passes every program
// the reference passes, and reports whether all do.
func printGoal(w io.Writer, cols []*column, tests []string, ref string, known map[string]string) bool {
	ok := true
	byMode := map[string]*column{}
	var modes []string
	for _, c := range cols {
		if c.Runtime.Name == ref {
			byMode[c.Mode] = c
			modes = append(modes, c.Mode)
		}
	}
	compared := false
	for _, mode := range modes {
		r := byMode[mode]
		for _, c := range cols {
			if c.Mode != mode || c == r {
				continue
			}
			compared = true
			var missing []string
			for _, t := range tests {
				why, isKnown := known[mode+" "+t]
				switch {
				case r.Results[t].Status == Pass && c.Results[t].Status != Pass && isKnown:
					fmt.Fprintf(w, "%s: known gap: %s does not pass %s: %s\n", mode, c.Runtime.Name, t, why)
				case r.Results[t].Status == Pass && c.Results[t].Status != Pass:
					missing = append(missing, t)
				case isKnown && c.Results[t].Status == Pass:
					fmt.Fprintf(w, "%s: %s passes %s now: take it off the known gaps\n", mode, c.Runtime.Name, t)
				}
			}
			if len(missing) == 0 {
				fmt.Fprintf(w, "%s: %s passes every test %s passes: yes\n", mode, c.Runtime.Name, ref)
				continue
			}
			ok = false
			fmt.Fprintf(w, "%s: %s passes every test %s passes: no, not %s\n", mode, c.Runtime.Name, ref, strings.Join(missing, " "))
		}
	}
	if !compared {
		fmt.Fprintf(w, "no comparison: no mode ran the reference %s beside another runtime\n", ref)
	}
	return ok
}

// readKnown reads the known gaps (see -known): "MODE PROGRAM" -> reason.
func readKnown(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-known: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 || (f[0] != "root" && f[0] != "rootless") {
			return nil, fmt.Errorf("-known %s:%d: want MODE PROGRAM REASON, MODE root or rootless", path, i+1)
		}
		out[f[0]+" "+f[1]] = f[2]
	}
	return out, nil
}
