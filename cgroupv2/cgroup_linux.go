package cgroupv2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrUnsupported is wrapped when the host cannot apply limits.
var ErrUnsupported = errors.New("resource limits are not available")

const (
	bootFix     = "boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line to get cgroup v2"
	delegateFix = "with systemd: sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && sudo systemctl daemon-reload, then log in again; without systemd: chown a cgroup v2 directory (and its cgroup.procs, cgroup.threads, cgroup.subtree_control) to the user and start usandbox in a child of it"
)

// parentDir is where sandbox cgroups are made. Two delegations work:
//
//   - our own cgroup, when it is delegated and holds no process but ours
//     (a systemd scope made with Delegate=yes, see Scope): we move into a
//     leaf of it first, as cgroup v2's no-internal-process rule wants;
//   - else its parent, when that is delegated (systemd's user@.service
//     with Delegate=, or a hand-made delegation: a session's processes sit
//     in a leaf below the delegated cgroup).
func (i *Info) parentDir() string {
	if i.ownDelegated() {
		return i.Dir()
	}
	return filepath.Dir(i.Dir())
}

func delegated(dir string) bool {
	return writable(dir) && writable(filepath.Join(dir, "cgroup.procs")) && writable(filepath.Join(dir, "cgroup.subtree_control"))
}

// ownDelegated: our cgroup is ours alone to divide.
func (i *Info) ownDelegated() bool {
	if i.Layout != Unified || !delegated(i.Dir()) {
		return false
	}
	b, err := os.ReadFile(filepath.Join(i.Dir(), "cgroup.procs"))
	if err != nil {
		return false
	}
	me := strconv.Itoa(os.Getpid())
	for _, pid := range strings.Fields(string(b)) {
		if pid != me {
			return false
		}
	}
	return true
}

// leaveForLeaf moves this process into a leaf of its own delegated
// cgroup, so that the cgroup can enable controllers for its children.
func (i *Info) leaveForLeaf() error {
	leaf := filepath.Join(i.Dir(), "usandbox-cli")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("cgroup: moving usandbox into a leaf: %w", err)
	}
	return nil
}

// NeedScope reports whether limits need a delegated systemd scope first:
// nothing here is delegated, but a systemd user manager runs (podman's
// way: systemd-run --user --scope -p Delegate=yes).
func (i *Info) NeedScope() bool {
	if i.Layout != Unified || i.ownDelegated() || delegated(filepath.Dir(i.Dir())) {
		return false
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "systemd", "private")); err != nil {
		return false
	}
	_, err := exec.LookPath("systemd-run")
	return err == nil
}

// ScopeArgs is the command line that runs args in a new delegated scope
// of the user's systemd.
func ScopeArgs(args []string) []string {
	return append([]string{"systemd-run", "--user", "--scope", "--quiet", "--collect", "-p", "Delegate=yes", "--"}, args...)
}

func writable(path string) bool { return unix.Access(path, unix.W_OK) == nil }

// Check says, before anything starts, why the host cannot apply l, with
// the fix; nil if it can.
func (i *Info) Check(l Limits) error {
	if !l.Any() {
		return nil
	}
	need := strings.Join(l.Controllers(), ", ")
	switch i.Layout {
	case Legacy:
		return fmt.Errorf("%w: limits (%s) need cgroup v2 and this host has cgroup v1 only; fix: %s", ErrUnsupported, need, bootFix)
	case Hybrid:
		return fmt.Errorf("%w: limits (%s) need cgroup v2 and this host is hybrid (v1 controllers; cgroup2 at %s has %s); fix: %s",
			ErrUnsupported, need, i.Mount, listOrNone(i.Controllers), bootFix)
	}
	parent := i.parentDir()
	if !delegated(parent) {
		return fmt.Errorf("%w: %s is not delegated to you, so limits (%s) cannot be set; fix: %s", ErrUnsupported, parent, need, delegateFix)
	}
	avail := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers")); err == nil {
		for _, c := range strings.Fields(string(b)) {
			avail[c] = true
		}
	}
	var missing []string
	for _, c := range l.Controllers() {
		if !avail[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the %s controller is not delegated to %s; fix: %s", ErrUnsupported, strings.Join(missing, " and "), parent, delegateFix)
	}
	return nil
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "no controllers"
	}
	return strings.Join(l, " ")
}

// Cgroup is a sandbox's cgroup: the limits sit on Dir, the processes in
// its child "sandbox", which is also the root of the sandbox's cgroup
// namespace. With the limits one level above that root, the sandbox
// cannot raise them even where cgroup2 is mounted without nsdelegate.
type Cgroup struct {
	Dir string
}

// Leaf is where the sandbox's processes go.
func (c *Cgroup) Leaf() string { return filepath.Join(c.Dir, "sandbox") }

// Create makes the cgroup for sandbox id and writes the limits.
func (i *Info) Create(id string, l Limits) (*Cgroup, error) {
	if err := i.Check(l); err != nil {
		return nil, err
	}
	parent := i.parentDir()
	if parent == i.Dir() {
		if err := i.leaveForLeaf(); err != nil {
			return nil, err
		}
	}
	if err := enable(parent, l.Controllers()); err != nil {
		return nil, err
	}
	c := &Cgroup{Dir: filepath.Join(parent, "usandbox-"+id)}
	if err := os.Mkdir(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			c.Remove()
		}
	}()
	for _, f := range l.files() {
		if err := os.WriteFile(filepath.Join(c.Dir, f[0]), []byte(f[1]), 0); err != nil {
			if f[0] == "memory.swap.max" && errors.Is(err, os.ErrNotExist) {
				continue // no swap accounting: nothing to limit
			}
			return nil, fmt.Errorf("cgroup: setting %s to %s: %w", f[0], f[1], err)
		}
	}
	if err := os.Mkdir(c.Leaf(), 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	ok = true
	return c, nil
}

// enable turns controllers on for the children of dir.
func enable(dir string, ctrls []string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		have[c] = true
	}
	var add []string
	for _, c := range ctrls {
		if !have[c] {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(add, " ")), 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%w: %s has processes of its own, so controllers cannot be enabled below it (cgroup v2's no-internal-process rule); start usandbox from a child cgroup of it", ErrUnsupported, dir)
		}
		return fmt.Errorf("cgroup: enabling %s in %s: %w", strings.Join(add, " "), dir, err)
	}
	return nil
}

// Add moves the process pid (and so its future children) into the leaf.
func (c *Cgroup) Add(pid int) error {
	if err := os.WriteFile(filepath.Join(c.Leaf(), "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("cgroup: moving the sandbox in: %w", err)
	}
	return nil
}

// OOMKilled reports whether the memory limit killed a process.
func (c *Cgroup) OOMKilled() bool {
	b, err := os.ReadFile(filepath.Join(c.Dir, "memory.events"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
			return true
		}
	}
	return false
}

// Kill kills every process in the cgroup at once (cgroup.kill), so that
// nothing escapes a stop by forking.
func (c *Cgroup) Kill() error {
	err := os.WriteFile(filepath.Join(c.Dir, "cgroup.kill"), []byte("1"), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cgroup: %w", err)
	}
	return nil
}

// Remove kills what is left and removes the cgroup.
func (c *Cgroup) Remove() error {
	c.Kill()
	var err error
	for _, d := range []string{c.Leaf(), c.Dir} {
		for try := 0; try < 100; try++ {
			err = unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(10 * time.Millisecond) // the killed are still exiting
		}
		if err != nil {
			return fmt.Errorf("cgroup: removing %s: %w", d, err)
		}
	}
	return nil
}

// LimitPids sets pids.max once the sandbox's command runs: n tasks for
// the command and its children, on top of those of usandbox's init (its
// threads count too, and docker's containers have none).
func (c *Cgroup) LimitPids(n int64) error {
	if n <= 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.Dir, "pids.current"))
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	cur, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return fmt.Errorf("cgroup: pids.current: %w", err)
	}
	// cur counts the init's threads and the command itself.
	if err := os.WriteFile(filepath.Join(c.Dir, "pids.max"), []byte(strconv.FormatInt(cur-1+n, 10)), 0); err != nil {
		return fmt.Errorf("cgroup: setting pids.max: %w", err)
	}
	return nil
}

// Update writes new limits on the cgroup (what l leaves unset stays),
// pids.max included, as it is: n tasks in the cgroup.
func (c *Cgroup) Update(l Limits) error {
	for _, f := range l.files() {
		if err := os.WriteFile(filepath.Join(c.Dir, f[0]), []byte(f[1]), 0); err != nil {
			return fmt.Errorf("cgroup: setting %s to %s: %w", f[0], f[1], err)
		}
	}
	return c.SetPidsMax(l.PidsLimit)
}

// SetPidsMax writes pids.max as it is (n <= 0: leaves it).
func (c *Cgroup) SetPidsMax(n int64) error {
	if n <= 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "pids.max"), []byte(strconv.FormatInt(n, 10)), 0); err != nil {
		return fmt.Errorf("cgroup: setting pids.max: %w", err)
	}
	return nil
}
