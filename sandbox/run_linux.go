package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/trace"
	"usandbox/network"
	"usandbox/network/netconf"
	"usandbox/nsexec"
	"usandbox/sandbox/caps"
	"usandbox/sandbox/lean"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
	"usandbox/userns"
	"usandbox/volume"
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
	// VolumesFrom lends this sandbox the volumes and bind mounts of
	// others (--volumes-from).
	VolumesFrom []VolumesFrom
	// Network is the parsed --network; NetworkRaw its text (shown by
	// inspect).
	Network    network.Options
	NetworkRaw string
	// Networks are the configurations of Network.Networks (Bridge
	// mode), in order: the gateways are the sandbox's name servers.
	Networks []netconf.Network
	Ports    []network.Port
	// PublishAll (-P): the exposed ports (Extra.ExposedPorts) are
	// published too, on free host ports.
	PublishAll bool
	// DNS are the name servers for the sandbox's /etc/resolv.conf (--dns),
	// instead of the network driver's forwarder or the host's servers.
	DNS    []net.IP
	Limits cgroupv2.Limits
	// Extra are the flags of package lifecycle's flags.go (labels,
	// --add-host, --dns-search, ...): kept in the record as given.
	Extra

	ReadOnly bool
	// ReadOnlyTmpfs: with ReadOnly, writable tmpfs on /run, /tmp and
	// /var/tmp where no volume or --tmpfs goes (podman's --read-only-tmpfs).
	ReadOnlyTmpfs   bool
	NoNewPrivileges bool
	CapAdd, CapDrop []string
	// Seccomp is the --security-opt seccomp= profile (ReadSeccompOption);
	// nil is docker's default.
	Seccomp *SeccompOption
	// Privileged: podman's rootless --privileged.
	Privileged bool

	// LogDriver and LogMaxSize, RestartPolicy and RestartMax: see Record.
	LogDriver     string
	LogMaxSize    int64
	RestartPolicy string
	RestartMax    int
	Healthcheck   *HealthConfig

	TTY bool
	// OpenStdin: a detached sandbox whose stdin its attachers write
	// (the Engine API's OpenStdin; see stdin.go); StdinOnce: the first
	// attacher's end is the stdin's end.
	OpenStdin, StdinOnce bool
	AutoRemove           bool
	Detached             bool
	// Rootless: the sandbox gets a user namespace (usandbox is not root).
	Rootless bool
	// SingleID: that user namespace maps one ID only.
	SingleID bool
	// IDs are --userns, --uidmap and --gidmap, relative to Plan, the
	// user's namespace.
	IDs  userns.Request
	Plan *userns.Plan
	// Process: --group-add, --ulimit, --shm-size, --tz, --device.
	Process ProcessOptions
}

// Streams connect a foreground sandbox (or an exec'd command) to the
// caller: its terminal or pipes. Stdin is used only when Interactive.
type Streams struct {
	Stdin          *os.File
	Stdout, Stderr *os.File
	Interactive    bool
	// NoSigProxy (run --sig-proxy=false): the signals usandbox receives
	// are caught and dropped, not passed on to the command.
	NoSigProxy bool
}

// IO connects a starting sandbox to the world.
type IO struct {
	// Streams: foreground.
	Streams
	// Log, when set (detached), receives the command's output instead.
	Log *LogWriter
	// Record, when set (foreground), receives a copy of what Streams get.
	Record *LogWriter
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
	// From here on the mounts are also what --volumes-from lends and
	// the image's VOLUMEs.
	if o.Volumes, err = withLentAndImageVolumes(o); err != nil {
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
	if len(o.Ports) > 0 && !o.Network.UserMode() && o.Network.Mode != network.Bridge {
		return nil, fmt.Errorf("-p needs a network (--network slirp4netns, pasta or a network's name), not --network %s", o.Network.Mode)
	}
	if o.Network.Mode == network.Bridge && len(o.Networks) != len(o.Network.Networks) {
		return nil, fmt.Errorf("sandbox: the configurations of the networks %v are missing", o.Network.Networks)
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
		hostname = ShortID(id)
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
		Created: time.Now(), AutoRemove: o.AutoRemove, Detached: o.Detached, Network: o.Network, Ports: ports, Limits: o.Limits,
		SeccompJSON: seccompOpt.JSON, LogDriver: o.LogDriver, LogMaxSize: o.LogMaxSize,
		RestartPolicy: o.RestartPolicy, RestartMax: o.RestartMax, Healthcheck: o.Healthcheck,
		Extra: o.Extra, OpenStdin: o.OpenStdin, StdinOnce: o.StdinOnce,
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
			Bypass:         o.Network.Bypass,
			Mounts:         generatedMounts(dir, o),
			Process: spec.Process{
				Args: argv, Env: MergeEnv(MergeEnv(DefaultEnv(), o.Image.Config.Env), append([]string{"HOSTNAME=" + hostname}, o.Env...)),
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
	if err := applyUserNS(&rec.Spec, o.IDs, o.Plan, o.User != ""); err != nil {
		return nil, err
	}
	if (o.Network.Mode == network.Bridge || o.Network.Mode == network.Container) && (len(rec.Spec.UIDMap) > 0 || len(rec.Spec.GIDMap) > 0) {
		// The sandbox's user namespace is made in the networks', by the
		// identity of its map (package network/holder).
		return nil, invalidf("--network %s cannot be combined with --userns, --uidmap or --gidmap yet: drop one of them", o.NetworkRaw)
	}
	addNumericUser(&rec.Spec)
	extra, err := applyProcess(&rec.Spec, o.Process, o.SingleID)
	if err != nil {
		return nil, err
	}
	if extra["localtime"] != nil {
		rec.Spec.Mounts = append(rec.Spec.Mounts, spec.Mount{Type: "bind", Source: filepath.Join(dir, "etc", "localtime"), Destination: "/etc/localtime"})
		if err := checkMounts(rec.Spec.Mounts); err != nil {
			return nil, err
		}
	}
	// The volumes lock first (then the names lock): a volume that this
	// sandbox names is not removed before its record exists. A sandbox
	// without volumes has nothing to guard (most runs: not on their path).
	if usesVolumes(rec.Spec.Mounts) {
		unlockVolumes, err := volume.Lock(o.Paths)
		if err != nil {
			return nil, err
		}
		defer unlockVolumes()
	}
	created, err := makeVolumes(o.Paths, rec.Spec.Mounts)
	if err != nil {
		return nil, err
	}
	rec.CreatedVolumes = created.named
	unlock, err := lockNames(o.Paths)
	if err != nil {
		created.undo()
		return nil, err
	}
	defer unlock()
	reclaimStale(o.Paths)
	if o.Name != "" {
		if other, err := Lookup(o.Paths, o.Name); err == nil && other.Name == o.Name {
			created.undo()
			return nil, fmt.Errorf("%w: the name %q is used by sandbox %s: remove it or pick another name", ErrNameInUse, o.Name, ShortID(other.ID))
		}
	}
	lock, err := prepareDir(dir, &rec, o.Network, o.Networks, o.DNS, extra)
	if err != nil {
		os.RemoveAll(dir)
		created.undo()
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

// generatedMounts are the sandbox's mounts: the tmpfs of ReadOnlyTmpfs,
// the files usandbox writes (hostname, hosts, resolv.conf unless the
// sandbox has no network and no --dns, as podman: the image's stays, and
// .containerenv), then the volumes.
func generatedMounts(dir string, o Options) []spec.Mount {
	var ms []spec.Mount
	if o.ReadOnly && o.ReadOnlyTmpfs {
		for _, d := range []string{"/run", "/tmp", "/var/tmp"} {
			taken := false
			for _, v := range o.Volumes {
				taken = taken || v.Destination == d
			}
			if !taken {
				ms = append(ms, spec.Mount{Type: "tmpfs", Destination: d, Options: "mode=1777", Generated: true})
			}
		}
	}
	etc := func(name string) string { return filepath.Join(dir, "etc", name) }
	ms = append(ms,
		spec.Mount{Type: "bind", Source: etc("hostname"), Destination: "/etc/hostname"},
		spec.Mount{Type: "bind", Source: etc("hosts"), Destination: "/etc/hosts"})
	if o.Network.Mode != network.None || len(o.DNS) > 0 {
		ms = append(ms, spec.Mount{Type: "bind", Source: etc("resolv.conf"), Destination: "/etc/resolv.conf"})
	}
	ms = append(ms, spec.Mount{Type: "bind", Source: etc("containerenv"), Destination: "/run/.containerenv", ReadOnly: true})
	return append(ms, o.Volumes...)
}

// DefaultEnv is what podman's containers.conf puts in every sandbox's
// environment, under the image's (PATH is the init's: see inner).
func DefaultEnv() []string { return []string{"TERM=xterm"} }

func newID() (string, error) { return newIDFrom(rand.Reader) }

// newIDFrom draws 32 bytes from r until the ID's short form, which is the
// sandbox's hostname, is not all decimal digits: glibc's resolver takes such
// a name for a numeric address and never looks it up in /etc/hosts.
func newIDFrom(r io.Reader) (string, error) {
	b := make([]byte, 32)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		id := hex.EncodeToString(b)
		if strings.ContainsAny(ShortID(id), "abcdef") {
			return id, nil
		}
	}
}

// prepareDir creates the sandbox's directory: its lock (taken: the caller
// holds it until Start hands it to the sandbox's watcher), upper and work
// layers, the mount point, the generated /etc files and the record. It is
// made under a temporary name (creatingPrefix) and renamed when complete:
// a directory under its sandbox's ID always has its record (see
// reclaimStale).
func prepareDir(dir string, rec *Record, netw network.Options, nets []netconf.Network, dns []net.IP, extra map[string][]byte) (lock *os.File, err error) {
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
	if err := writeDir(tmp, rec, netw, nets, dns, extra); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("creating the sandbox directory: %w", err)
	}
	return lock, nil
}

func writeDir(dir string, rec *Record, netw network.Options, nets []netconf.Network, dns []net.IP, extra map[string][]byte) error {
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
	// The sandbox's own line names its hostname and then its name, as
	// podman's does.
	names := hostname
	if rec.Name != "" && rec.Name != hostname {
		names += " " + rec.Name
	}
	hosts := rec.Extra.hostsLines() + "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	switch {
	case netw.Mode == network.Bridge:
		// The networks' resolvers answer the members' names and forward
		// the rest. The sandbox's own address is known at its start
		// (writeHosts).
		var b strings.Builder
		for _, n := range nets {
			fmt.Fprintf(&b, "nameserver %s\n", gatewayOf(n))
		}
		resolv = []byte(b.String())
		if err := os.WriteFile(filepath.Join(dir, "etc", hostsBase), []byte(hosts), 0o644); err != nil {
			return fmt.Errorf("writing /etc/hosts: %w", err)
		}
		hosts += "127.0.1.1\t" + names + "\n"
	case netw.UserMode():
		// The driver's DNS forwarder passes queries to the host's servers.
		resolv = []byte(fmt.Sprintf("nameserver %s\n", netw.Addr(3)))
		hosts += netw.Addr(100).String() + "\t" + names + "\n"
		if ip := hostIP(); ip != "" {
			hosts += ip + "\thost.containers.internal host.docker.internal\n"
		}
	default:
		hosts += "127.0.1.1\t" + names + "\n"
	}
	if len(dns) > 0 {
		var b strings.Builder
		for _, ip := range dns {
			fmt.Fprintf(&b, "nameserver %s\n", ip)
		}
		resolv = []byte(b.String())
	}
	files := map[string]string{
		"hostname":     hostname + "\n",
		"hosts":        hosts,
		"resolv.conf":  rec.Extra.resolvConf(string(resolv)),
		"containerenv": containerenv(rec),
	}
	for name, content := range extra {
		files[name] = string(content)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing /etc/%s: %w", name, err)
		}
	}
	b, err := json.MarshalIndent(rec, "", " ")
	if err != nil {
		return err
	}
	if rec.AutoRemove {
		// An --rm sandbox's record is of no use after a crash of the
		// host (reclaimStale removes what is left): not worth a journal
		// commit on every run --rm.
		return writeRunState(filepath.Join(dir, configFile), b)
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

func initEnv() []string {
	var env []string
	if trace.Enabled() {
		env = append(env, trace.Env())
	}
	return env
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

// hostsBase is the sandbox's /etc/hosts without its own line, which a
// member of networks gets at each start (writeHosts): its address.
const hostsBase = "hosts.base"

// gatewayOf is a network's gateway, its resolver's address.
func gatewayOf(n netconf.Network) string {
	if n.Gateway != "" {
		return n.Gateway
	}
	ip, _, err := net.ParseCIDR(n.Subnet)
	if err != nil {
		return ""
	}
	ip = ip.To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+1).String()
}

// writeHosts writes the /etc/hosts of a member of networks, whose
// addresses are addrs: its own line names the first.
func writeHosts(dir string, rec *Record, addrs []string) error {
	base, err := os.ReadFile(filepath.Join(dir, "etc", hostsBase))
	if err != nil {
		return fmt.Errorf("writing /etc/hosts: %w", err)
	}
	names := rec.Spec.Hostname
	if rec.Name != "" && rec.Name != names {
		names += " " + rec.Name
	}
	hosts := string(base)
	if len(addrs) > 0 {
		hosts += addrs[0] + "\t" + names + "\n"
	}
	if ip := hostIP(); ip != "" {
		hosts += ip + "\thost.containers.internal host.docker.internal\n"
	}
	path := filepath.Join(dir, "etc", "hosts")
	if err := os.WriteFile(path, []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("writing /etc/hosts: %w", err)
	}
	return nil
}

// startNetwork starts the user-mode network and the port forwarders of the
// sandbox whose init is pid.
func startNetwork(p index.Paths, sb *Sandbox, pid int) (*cleanupNetwork, error) {
	o := sb.Network
	stateDir := filepath.Join(p.RunRoot, "net", ShortID(sb.ID))
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	log := debugLog()
	setup := network.Setup
	if len(sb.Spec.UIDMap) > 0 {
		// The user may not be root in the sandbox's user namespace.
		setup = network.SetupConfigured
	}
	var netw *network.Network
	var err error
	if o.Mode == network.Bridge {
		// On networks: the holder made the interfaces; only the ports
		// are this process's.
		netw = &network.Network{}
	} else {
		netw, err = setup(o, pid, stateDir, log)
	}
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

// debugLog is where the network's helpers log: stderr with
// USANDBOX_DEBUG set, else nowhere.
func debugLog() io.Writer {
	if os.Getenv("USANDBOX_DEBUG") != "" {
		return os.Stderr
	}
	return nil
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
		Log: logFD, LogMax: log.max, LogName: LogFile, RotatedName: RotatedLog(LogFile),
	}
	var env []string
	if sb.RestartPolicy != "" && sb.RestartPolicy != "no" || sb.AutoRemove && sb.removesInUserNS() {
		// The finish step may start the sandbox again, as the user
		// would (newuidmap on PATH, XDG_RUNTIME_DIR, ...), or remove
		// what the sandbox's IDs own (its volumes) through the user
		// namespace; the others need nothing of it.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, role.Env+"=") && !strings.HasPrefix(kv, "USANDBOX_TRACE=") {
				env = append(env, kv)
			}
		}
	}
	env = append(env, finishRoot+"="+p.Root, finishRunRoot+"="+p.RunRoot, finishID+"="+sb.ID)
	if trace.Enabled() {
		env = append(env, trace.Env())
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
func Finish(code int) (*Sandbox, error) {
	p := FinishPaths()
	sb, err := Load(p, os.Getenv(finishID))
	if err != nil {
		return nil, err
	}
	var errs []error
	oom := false
	cgPath := filepath.Join(sb.Dir, cgroupFile)
	if b, err := os.ReadFile(cgPath); err == nil {
		cg := &cgroupv2.Cgroup{Dir: strings.TrimSpace(string(b))}
		oom = cg.OOMKilled()
		errs = append(errs, cg.Remove(), removeIfExists(cgPath))
	}
	if err := os.RemoveAll(filepath.Join(p.RunRoot, "net", ShortID(sb.ID))); err != nil {
		errs = append(errs, fmt.Errorf("removing the network's state: %w", err))
	}
	if oom {
		code = 137
	}
	Event(p, sb, "die", map[string]string{"exitCode": strconv.Itoa(code)})
	if sb.AutoRemove {
		errs = append(errs, writeRemovedExit(p, sb.ID, code, oom))
		if err := removeSandboxDir(nil, sb.Dir); err != nil {
			errs = append(errs, err)
		} else {
			Event(p, sb, "destroy", nil)
		}
	} else {
		errs = append(errs, WriteExit(sb.Dir, code, oom))
	}
	return sb, errors.Join(errs...)
}

// FinishPaths are the store paths of the sandbox a finish step ends.
func FinishPaths() index.Paths {
	return index.Paths{Root: os.Getenv(finishRoot), RunRoot: os.Getenv(finishRunRoot)}
}

// containerenv is /run/.containerenv, by which programs (toolbox, systemd,
// scripts) tell they run in a container. podman writes it empty, and fills
// it for --privileged sandboxes only: the others need not know more.
func containerenv(rec *Record) string {
	if !rec.Spec.Privileged {
		return ""
	}
	rootless := 0
	if rec.Spec.UserNS {
		rootless = 1
	}
	return fmt.Sprintf("engine=%q\nname=%q\nid=%q\nimage=%q\nimageid=%q\nrootless=%d\n",
		"usandbox", rec.Name, rec.ID, rec.Image, rec.ImageID, rootless)
}

// Volumes are the mounts of s the user asked for (-v, --tmpfs): the
// spec's without the files usandbox makes in the sandbox's etc directory
// (/etc/hosts, /run/.containerenv, ...).
func Volumes(s *spec.Spec) []spec.Mount {
	made := filepath.Join(s.StateDir, "etc") + string(filepath.Separator)
	var out []spec.Mount
	for _, m := range s.Mounts {
		if m.Generated || m.Type == "bind" && strings.HasPrefix(m.Source, made) {
			continue
		}
		out = append(out, m)
	}
	return out
}
