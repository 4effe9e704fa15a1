package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/atomicwriter"
	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/network"
	"usandbox/network/holder"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
)

// Errors callers branch on.
var (
	ErrNoSuchSandbox = errors.New("no such sandbox")
	ErrAmbiguous     = errors.New("ambiguous sandbox ID prefix")
	ErrNameInUse     = errors.New("name already in use")
	ErrRunning       = errors.New("sandbox is running")
	ErrNotRunning    = errors.New("sandbox is not running")
	// ErrDamaged: the sandbox's record cannot be read; only rm works.
	ErrDamaged = errors.New("sandbox record is damaged")
	// ErrInvalid matches refusals of bad options (errors.Is).
	ErrInvalid = errors.New("invalid argument")
)

// invalidError is a refusal of a bad option: its message is the whole
// story, and it matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, a ...any) error { return &invalidError{fmt.Sprintf(format, a...)} }

// Record is what a sandbox was created as. It lives in
// Root/sandboxes/ID/config.json and survives reboots.
type Record struct {
	ID         string    `json:"Id"`
	Name       string    `json:"Name"`
	Image      string    `json:"Image"` // as the user named it
	ImageID    string    `json:"ImageId"`
	Command    []string  `json:"Command"`
	Created    time.Time `json:"Created"`
	AutoRemove bool      `json:"AutoRemove"`
	Detached   bool      `json:"Detached"`
	// Network is the sandbox's --network, parsed once, at create.
	Network network.Options `json:"Network"`
	Ports   []network.Port  `json:"Ports,omitempty"`
	Limits  cgroupv2.Limits `json:"Limits"`
	// SeccompJSON is the profile given by --security-opt seccomp=FILE, as
	// it was when the sandbox was created (docker keeps it the same way).
	SeccompJSON json.RawMessage `json:"SeccompJSON,omitempty"`
	// LogDriver is podman's --log-driver: LogK8sFile (also "") or
	// LogNone; LogMaxSize its --log-opt max-size (0: DefaultLogMax).
	LogDriver  string `json:"LogDriver,omitempty"`
	LogMaxSize int64  `json:"LogMaxSize,omitempty"`
	// RestartPolicy is --restart's policy ("" or "no", "on-failure",
	// "always", "unless-stopped"); RestartMax on-failure's :N (0: no
	// bound).
	RestartPolicy string `json:"RestartPolicy,omitempty"`
	RestartMax    int    `json:"RestartMax,omitempty"`
	// Healthcheck is the sandbox's health check, if it has one.
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
	// CreatedVolumes are the named volumes this sandbox's create made
	// (first use): they go again if it never runs.
	CreatedVolumes []string `json:"CreatedVolumes,omitempty"`
	// OpenStdin and StdinOnce: see Options.
	OpenStdin bool `json:"OpenStdin,omitempty"`
	StdinOnce bool `json:"StdinOnce,omitempty"`
	Extra
	Spec spec.Spec `json:"Spec"`
}

// Log drivers (podman's names).
const (
	LogK8sFile = "k8s-file"
	LogNone    = "none"
)

// Logged reports whether the sandbox's output goes to its log.
func (r *Record) Logged() bool { return r.LogDriver != LogNone }

// LogMax is the size at which the sandbox's log rotates.
func (r *Record) LogMax() int64 {
	if r.LogMaxSize > 0 {
		return r.LogMaxSize
	}
	return DefaultLogMax
}

// Status values, as docker names them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
	// StatusUnknown: the record cannot be read (State.Error says why);
	// Running and Pid still come from the lock and the state files.
	StatusUnknown = "unknown"
)

// State is how a sandbox is doing.
type State struct {
	Status  string `json:"Status"`
	Running bool   `json:"Running"`
	Paused  bool   `json:"Paused"`
	Pid     int    `json:"Pid"` // the init's host pid while running
	// KeeperPid is the host pid of the sandbox's keeper while running:
	// exec and the port driver enter the sandbox's namespaces through it.
	KeeperPid int `json:"-"`
	ExitCode  int `json:"ExitCode"`
	// RestartCount is how often the restart policy started the command
	// again since the user last started it (docker's RestartCount).
	RestartCount int `json:"RestartCount"`
	// StoppedByUser: stop or kill ended it; the restart policy waits
	// for the next start.
	StoppedByUser bool `json:"StoppedByUser"`
	// Health is how its health check went, for a sandbox that has one.
	Health     *Health   `json:"Health,omitempty"`
	OOMKilled  bool      `json:"OOMKilled"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
	// Error is why the status is unknown, as docker's State.Error.
	Error string `json:"Error,omitempty"`
}

// Files of a sandbox directory.
const (
	configFile = "config.json"
	startFile  = "started" // "PID UNIXNANO KEEPERPID"
	exitFile   = spec.ExitFile
	lockFile   = "lock" // flock held by the init while it lives
	// autoRemoveFile marks an --rm sandbox that was started: once its
	// lock is free, what is left of it is stale (reclaimStale).
	autoRemoveFile = "autoremove"
	// restartsFile holds RestartCount; stoppedFile is there while
	// StoppedByUser.
	restartsFile = "restarts"
	stoppedFile  = "stopped-by-user"
	LogFile      = "ctr.log"
)

// LockPath is the lock of the sandbox in dir: held while it runs.
func LockPath(dir string) string { return filepath.Join(dir, lockFile) }

// Dir is a sandbox's directory.
func Dir(p index.Paths, id string) string { return filepath.Join(p.Root, "sandboxes", id) }

// Sandbox is a record and its live state.
type Sandbox struct {
	Record
	State State  `json:"State"`
	Dir   string `json:"-"`
	// lock, when set, is the sandbox's lock, taken (by Create): Start
	// hands it on to the sandbox's watcher.
	lock *os.File
}

// HeldLock is the sandbox's lock if this process holds it (a sandbox just
// created and not yet started), else nil. A detached start passes it to
// the monitor, which gives it back with HoldLock.
func (s *Sandbox) HeldLock() *os.File { return s.lock }

// HoldLock gives the sandbox the lock f, taken by its creator (see
// HeldLock).
func (s *Sandbox) HoldLock(f *os.File) { s.lock = f }

// Load reads one sandbox.
func Load(p index.Paths, id string) (*Sandbox, error) {
	dir := Dir(p, id)
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchSandbox, id)
		}
		return nil, err
	}
	sb := &Sandbox{Dir: dir}
	sb.State = readState(dir)
	if err := json.Unmarshal(b, &sb.Record); err != nil || sb.ID != id {
		// Cut short (a full disk, a crash of an older usandbox) or
		// edited: still listed, so that rm can remove it.
		if err == nil {
			err = fmt.Errorf("it names sandbox %q", sb.ID)
		}
		sb.Record = Record{ID: id}
		sb.State.Status = StatusUnknown
		sb.State.Error = fmt.Sprintf("reading %s: %v", filepath.Join(dir, configFile), err)
	}
	if sb.Healthcheck != nil {
		sb.State.Health = readHealth(dir)
	}
	return sb, nil
}

// Damaged is ErrDamaged, with why, if the sandbox's record cannot be read.
func (s *Sandbox) Damaged() error {
	if s.State.Status != StatusUnknown {
		return nil
	}
	return fmt.Errorf("%w: %s: %s: remove it with usandbox rm", ErrDamaged, ShortID(s.ID), s.State.Error)
}

// readState works the state out from the files: the init holds the lock
// while it lives, so a free lock means the sandbox is not running, whatever
// the files say (usandbox or the init may have been killed).
func readState(dir string) State {
	var st State
	st.Status = StatusCreated
	if f := readFields(filepath.Join(dir, restartsFile)); len(f) == 1 {
		st.RestartCount, _ = strconv.Atoi(f[0])
	}
	_, err := os.Lstat(filepath.Join(dir, stoppedFile))
	st.StoppedByUser = err == nil
	if f := readFields(filepath.Join(dir, startFile)); len(f) >= 2 {
		st.Pid, _ = strconv.Atoi(f[0])
		st.StartedAt = unixNano(f[1])
		if len(f) >= 3 {
			st.KeeperPid, _ = strconv.Atoi(f[2])
		}
		st.Status = StatusRunning
	}
	if code, at, oom, ok := spec.ReadExit(dir); ok {
		st.Status = StatusExited
		st.ExitCode, st.FinishedAt, st.OOMKilled = code, at, oom
	}
	if st.Status == StatusRunning && !Locked(dir) {
		// Killed without a word: exited, status unknown.
		st.Status, st.ExitCode = StatusExited, 137
	}
	st.Running = st.Status == StatusRunning
	if !st.Running {
		st.Pid, st.KeeperPid = 0, 0
	} else if paused(dir) {
		st.Status, st.Paused = StatusPaused, true
	}
	return st
}

func readFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func unixNano(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Locked reports whether the sandbox's init holds its lock (it is alive).
func Locked(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return true
	}
	return false
}

// List returns every sandbox, newest first.
func List(p index.Paths) ([]*Sandbox, error) {
	ents, err := os.ReadDir(filepath.Join(p.Root, "sandboxes"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []*Sandbox
	for _, e := range ents {
		sb, err := Load(p, e.Name())
		if err != nil {
			continue // being created or removed
		}
		out = append(out, sb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Lookup finds a sandbox by full ID, unique ID prefix, or name.
func Lookup(p index.Paths, ref string) (*Sandbox, error) {
	all, err := List(p)
	if err != nil {
		return nil, err
	}
	for _, sb := range all {
		if sb.ID == ref || sb.Name == ref {
			return sb, nil
		}
	}
	var found []*Sandbox
	for _, sb := range all {
		if ref != "" && strings.HasPrefix(sb.ID, ref) {
			found = append(found, sb)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("%w: %s (see usandbox ps -a)", ErrNoSuchSandbox, ref)
	}
	return nil, fmt.Errorf("%w: %q matches %d sandboxes, give more of the ID", ErrAmbiguous, ref, len(found))
}

// ShortID is the 12 characters docker shows.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// writeFileAtomic writes a small file in place of another, durably (it
// is synced before it replaces the old one): the sandbox's record.
func writeFileAtomic(path string, data []byte) error {
	return atomicwriter.WriteFile(path, data, 0o600)
}

// writeRunState writes a file that describes a running sandbox (its
// start, its cgroup) in place of another: atomically, so that no reader
// sees half of it, but not synced. Such a file means nothing after a
// crash of the host (a free lock reads as stopped, whatever it says), so
// a journal commit per start would buy nothing.
func writeRunState(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// WriteExit records how the sandbox ended (the first writer wins).
func WriteExit(dir string, code int, oom bool) error { return spec.WriteExit(dir, code, oom) }

// StatusString is ps's STATUS column.
func (s *Sandbox) StatusString(now time.Time) string {
	switch s.State.Status {
	case StatusRunning:
		up := "Up " + humanDuration(now.Sub(s.State.StartedAt))
		if s.State.Health != nil {
			up += " (" + s.State.Health.Status + ")" // docker's and podman's
		}
		return up
	case StatusExited:
		code := strconv.Itoa(s.State.ExitCode)
		if s.State.OOMKilled {
			code = "OOMKilled"
		}
		if s.State.FinishedAt.IsZero() {
			return "Exited (" + code + ")"
		}
		return "Exited (" + code + ") " + humanDuration(now.Sub(s.State.FinishedAt)) + " ago"
	case StatusUnknown:
		return "Unknown"
	case StatusPaused:
		return "Paused"
	}
	return "Created"
}

// humanDuration is docker's: "Less than a second", "3 seconds", "5 minutes".
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	}
	return fmt.Sprintf("%d weeks", int(d.Hours())/24/7)
}

// networksFile, in a sandbox's directory, holds its addresses on its
// networks while it runs (holder.Address, JSON).
const networksFile = "networks.json"

// NetworkAddresses are the running sandbox's addresses on its networks,
// as its last start got them (none if it is on none).
func (s *Sandbox) NetworkAddresses() []holder.Address {
	b, err := os.ReadFile(filepath.Join(s.Dir, networksFile))
	if err != nil {
		return nil
	}
	var addrs []holder.Address
	if json.Unmarshal(b, &addrs) != nil {
		return nil
	}
	return addrs
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data
	}
	return b
}

// cgroupFile, in a sandbox's directory, names its cgroup while it runs.
const cgroupFile = "cgroup"

// KillCgroup kills every process of the sandbox at once, through its
// cgroup, if it has one; false if it has none.
func (s *Sandbox) KillCgroup() bool {
	b, err := os.ReadFile(filepath.Join(s.Dir, cgroupFile))
	if err != nil || len(b) == 0 {
		return false
	}
	return (&cgroupv2.Cgroup{Dir: strings.TrimSpace(string(b))}).Kill() == nil
}

// MarkStoppedByUser records that the user stopped or killed the sandbox:
// its restart policy does not start it again until the next start.
func MarkStoppedByUser(dir string) error {
	return writeRunState(filepath.Join(dir, stoppedFile), nil)
}

// ResetRestarts is the user's start: the restart policy applies again,
// counting from zero.
func ResetRestarts(dir string) error {
	return errors.Join(removeIfExists(filepath.Join(dir, stoppedFile)), removeIfExists(filepath.Join(dir, restartsFile)))
}

// CountRestart records one more start by the restart policy.
func CountRestart(dir string) error {
	n := readState(dir).RestartCount
	return writeRunState(filepath.Join(dir, restartsFile), []byte(strconv.Itoa(n+1)+"\n"))
}
