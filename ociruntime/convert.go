package ociruntime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/sandbox/seccomp"
	"usandbox/sandbox/spec"
)

// container is a bundle's configuration as usandbox's sandbox engine
// takes it.
type container struct {
	spec spec.Spec
	// flags are the namespaces to make (CLONE_NEW*), join those to enter
	// by path (a user namespace first), and all every namespace of the
	// container that is not the runtime's own (exec enters them).
	flags, all uintptr
	join       []*os.File
	// newUser: a user namespace is made, and uidMap/gidMap written.
	newUser bool
	// callersPids: the container's pid namespace may be the runtime's
	// own or an ancestor of it (none in linux.namespaces, or one given
	// by path that is not below the runtime's), so that it sees the
	// runtime's processes, the keeper among them.
	callersPids    bool
	uidMap, gidMap []specs.LinuxIDMapping
	limits         cgroupv2.Limits
	hooks          *specs.Hooks
}

func (c *container) closeJoin() {
	for _, f := range c.join {
		f.Close()
	}
	c.join = nil
}

// unsupported names a field of the bundle that usandbox-runc does not
// implement: it is refused, never dropped.
func unsupported(field string) error {
	return fmt.Errorf("%s is not supported by usandbox-runc: remove it from config.json", field)
}

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
}

// convert reads the bundle's config into a container. The caller closes
// c.join.
func convert(id, bundle string, cfg *specs.Spec, stateDir string) (c *container, err error) {
	if cfg.Process == nil {
		return nil, errors.New("config.json has no process")
	}
	if cfg.Root == nil || cfg.Root.Path == "" {
		return nil, errors.New("config.json has no root.path")
	}
	if cfg.Linux == nil {
		return nil, errors.New("config.json has no linux section")
	}
	if cfg.Windows != nil || cfg.Solaris != nil || cfg.VM != nil || cfg.ZOS != nil || cfg.FreeBSD != nil {
		return nil, errors.New("config.json is for another platform than linux")
	}
	l := cfg.Linux
	made := &container{hooks: cfg.Hooks}
	c = made
	defer func() {
		if err != nil {
			made.closeJoin()
		}
	}()
	rootfs := cfg.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return nil, fmt.Errorf("root.path: %w", err)
	}
	s := &c.spec
	s.ID = id
	s.Hostname = cfg.Hostname
	s.StateDir = stateDir
	s.Rootfs.Target = rootfs
	s.ReadOnly = cfg.Root.Readonly
	s.MaskedPaths = l.MaskedPaths
	s.ReadonlyPaths = l.ReadonlyPaths
	o := &spec.OCI{Rootfs: rootfs, Sysctl: l.Sysctl, Domainname: cfg.Domainname}
	s.OCI = o

	switch {
	case l.IntelRdt != nil:
		return nil, unsupported("linux.intelRdt")
	case l.Personality != nil:
		return nil, unsupported("linux.personality")
	case len(l.TimeOffsets) > 0:
		return nil, unsupported("linux.timeOffsets")
	case l.MountLabel != "":
		return nil, unsupported("linux.mountLabel (SELinux)")
	case l.MemoryPolicy != nil:
		return nil, unsupported("linux.memoryPolicy")
	case len(l.NetDevices) > 0:
		return nil, unsupported("linux.netDevices")
	}

	// Namespaces: new ones are made, those with a path entered (a user
	// namespace first).
	seen := map[specs.LinuxNamespaceType]bool{}
	var joinUser *os.File
	var joinRest []*os.File
	for _, ns := range l.Namespaces {
		f, ok := nsFlags[ns.Type]
		if !ok {
			return nil, unsupported(fmt.Sprintf("linux.namespaces type %q", ns.Type))
		}
		if seen[ns.Type] {
			return nil, fmt.Errorf("linux.namespaces: %s is given twice", ns.Type)
		}
		seen[ns.Type] = true
		c.all |= f
		if ns.Path == "" {
			c.flags |= f
			continue
		}
		nf, err := os.Open(ns.Path)
		if err != nil {
			return nil, fmt.Errorf("linux.namespaces %s: %w", ns.Type, err)
		}
		typ, err := unix.IoctlRetInt(int(nf.Fd()), unix.NS_GET_NSTYPE)
		if err != nil || uintptr(typ) != f {
			nf.Close()
			return nil, fmt.Errorf("linux.namespaces %s: %s is not a %s namespace", ns.Type, ns.Path, ns.Type)
		}
		if f == unix.CLONE_NEWPID && !pidNSBelow(nf) {
			c.callersPids = true
		}
		if f == unix.CLONE_NEWUSER {
			joinUser = nf
		} else {
			joinRest = append(joinRest, nf)
		}
	}
	if joinUser != nil {
		c.join = append(c.join, joinUser)
	}
	c.join = append(c.join, joinRest...)
	c.callersPids = c.callersPids || !seen[specs.PIDNamespace]
	if !seen[specs.MountNamespace] {
		return nil, errors.New("linux.namespaces has no mount namespace: usandbox-runc needs one (pivot_root)")
	}
	c.newUser = c.flags&unix.CLONE_NEWUSER != 0
	if c.newUser {
		if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
			return nil, errors.New("linux.namespaces has a new user namespace but linux.uidMappings or gidMappings is empty")
		}
		c.uidMap, c.gidMap = l.UIDMappings, l.GIDMappings
	} else if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
		return nil, errors.New("linux.uidMappings and gidMappings need a new user namespace in linux.namespaces")
	} else if os.Geteuid() != 0 {
		return nil, errors.New("an unprivileged user needs a user namespace in linux.namespaces, with uidMappings and gidMappings (see usandbox-runc spec --rootless)")
	}
	s.UserNS = seen[specs.UserNamespace]
	o.UTS = seen[specs.UTSNamespace]
	o.NetNS = seen[specs.NetworkNamespace]
	if !o.UTS && (cfg.Hostname != "" || cfg.Domainname != "") {
		return nil, errors.New("hostname and domainname need a UTS namespace in linux.namespaces")
	}
	// Without a user namespace of its own a runtime that is itself in
	// one (rootless containerd, under rootlesskit) cannot make device
	// nodes either.
	o.BindDevices = s.UserNS || InUserNS()

	switch cfg.Linux.RootfsPropagation {
	case "":
	case "shared", "rshared":
		o.RootPropagation = unix.MS_SHARED
	case "slave", "rslave":
		o.RootPropagation = unix.MS_SLAVE
	case "private", "rprivate":
		o.RootPropagation = unix.MS_PRIVATE
	case "unbindable", "runbindable":
		o.RootPropagation = unix.MS_UNBINDABLE
	default:
		return nil, fmt.Errorf("linux.rootfsPropagation %q: want shared, slave, private or unbindable", l.RootfsPropagation)
	}

	for _, m := range cfg.Mounts {
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			return nil, unsupported("mounts[].uidMappings (idmapped mounts)")
		}
		typ := m.Type
		src := m.Source
		bind := typ == "bind"
		for _, opt := range m.Options {
			bind = bind || opt == "bind" || opt == "rbind"
		}
		if bind && src != "" && !filepath.IsAbs(src) {
			src = filepath.Join(bundle, src)
		}
		if typ == "" && !bind {
			return nil, fmt.Errorf("mount %s: no type", m.Destination)
		}
		o.Mounts = append(o.Mounts, spec.OCIMount{Destination: m.Destination, Type: typ, Source: src, Options: m.Options})
	}
	for _, d := range l.Devices {
		dev := spec.OCIDevice{Path: d.Path, Type: d.Type, Major: d.Major, Minor: d.Minor}
		if d.FileMode != nil {
			dev.FileMode = uint32(*d.FileMode)
		}
		if d.UID != nil {
			dev.UID = *d.UID
		}
		if d.GID != nil {
			dev.GID = *d.GID
		}
		o.Devices = append(o.Devices, dev)
	}
	if err := convertProcess(cfg.Process, s); err != nil {
		return nil, err
	}
	if l.Seccomp != nil {
		prog, err := seccomp.CompileOCI(l.Seccomp)
		if err != nil {
			return nil, err
		}
		if s.Seccomp, err = prog.MarshalBinary(); err != nil {
			return nil, err
		}
		s.SeccompProfile = "the bundle's linux.seccomp"
	} else {
		s.SeccompProfile = spec.SeccompUnconfined
	}
	if l.Resources != nil {
		if c.limits, err = convertResources(l.Resources); err != nil {
			return nil, err
		}
	}
	if h := cfg.Hooks; h != nil {
		o.RuntimeHooks = len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 //nolint:staticcheck // prestart is deprecated, still run
		o.CreateContainer = hooks(h.CreateContainer)
		o.StartContainer = hooks(h.StartContainer)
	}
	return c, nil
}

// pidNSBelow: the pid namespace ns is a descendant of this process's
// own (not it), whose processes cannot see this one's. Its ancestors are
// walked up (NS_GET_PARENT) until this process's own namespace, or until
// the kernel refuses to go higher: the namespace is not below this one.
func pidNSBelow(ns *os.File) bool {
	var self unix.Stat_t
	if unix.Stat("/proc/self/ns/pid", &self) != nil {
		return false
	}
	fd, err := unix.Dup(int(ns.Fd()))
	if err != nil {
		return false
	}
	// A pid namespace is at most 32 levels deep.
	for i := 0; i < 33; i++ {
		parent, err := unix.IoctlRetInt(fd, unix.NS_GET_PARENT)
		unix.Close(fd)
		if err != nil {
			return false
		}
		fd = parent
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Dev == self.Dev && st.Ino == self.Ino {
			unix.Close(fd)
			return true
		}
	}
	unix.Close(fd)
	return false
}

func hooks(hs []specs.Hook) []spec.OCIHook {
	var out []spec.OCIHook
	for _, h := range hs {
		out = append(out, spec.OCIHook{Path: h.Path, Args: h.Args, Env: h.Env, Timeout: h.Timeout})
	}
	return out
}

var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// convertProcess fills s's process from an OCI process (the bundle's, or
// exec's).
func convertProcess(p *specs.Process, s *spec.Spec) error {
	switch {
	case p.ApparmorProfile != "":
		return unsupported("process.apparmorProfile (this host has no AppArmor)")
	case p.SelinuxLabel != "":
		return unsupported("process.selinuxLabel")
	case p.IOPriority != nil:
		return unsupported("process.ioPriority")
	case p.Scheduler != nil:
		return unsupported("process.scheduler")
	case p.ExecCPUAffinity != nil:
		return unsupported("process.execCPUAffinity")
	case p.User.Username != "":
		return unsupported("process.user.username")
	case p.CommandLine != "":
		return unsupported("process.commandLine")
	}
	if len(p.Args) == 0 {
		return errors.New("process.args is empty")
	}
	if p.Cwd != "" && !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q: must be an absolute path", p.Cwd)
	}
	o := s.OCI
	s.Process = spec.Process{Args: p.Args, Env: p.Env, Cwd: p.Cwd, Terminal: p.Terminal}
	if p.ConsoleSize != nil {
		s.Process.Rows, s.Process.Cols = uint16(p.ConsoleSize.Height), uint16(p.ConsoleSize.Width)
	}
	o.Console = p.Terminal
	for _, r := range p.Rlimits {
		n, ok := rlimits[r.Type]
		if !ok {
			return fmt.Errorf("process.rlimits: unknown type %q", r.Type)
		}
		s.Process.Rlimits = append(s.Process.Rlimits, spec.Rlimit{Name: r.Type, Type: n, Soft: r.Soft, Hard: r.Hard})
	}
	o.UID, o.GID, o.AdditionalGids, o.Umask = p.User.UID, p.User.GID, p.User.AdditionalGids, p.User.Umask
	o.OOMScoreAdj = p.OOMScoreAdj
	s.NoNewPrivileges = p.NoNewPrivileges
	o.Caps = spec.OCICaps{}
	if c := p.Capabilities; c != nil {
		o.Caps = spec.OCICaps{Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable, Permitted: c.Permitted, Ambient: c.Ambient}
	}
	s.Capabilities = o.Caps.Bounding
	return nil
}

// convertResources takes the resources cgroup v2 can enforce for an
// unprivileged user (memory, cpu, cpuset, pids). Device rules are
// accepted as they are enforced by construction: a container has the
// devices of linux.devices and the default ones, and a user namespace
// cannot make or open any other node. Anything else is refused by name.
func convertResources(r *specs.LinuxResources) (cgroupv2.Limits, error) {
	var l cgroupv2.Limits
	switch {
	case r.BlockIO != nil:
		return l, unsupported("linux.resources.blockIO")
	case len(r.HugepageLimits) > 0:
		return l, unsupported("linux.resources.hugepageLimits")
	case r.Network != nil:
		return l, unsupported("linux.resources.network")
	case len(r.Rdma) > 0:
		return l, unsupported("linux.resources.rdma")
	case len(r.Unified) > 0:
		return l, unsupported("linux.resources.unified")
	}
	if m := r.Memory; m != nil {
		switch {
		case m.Reservation != nil && *m.Reservation != 0:
			return l, unsupported("linux.resources.memory.reservation")
		case m.Kernel != nil && *m.Kernel != 0, m.KernelTCP != nil && *m.KernelTCP != 0: //nolint:staticcheck // refused, as deprecated
			return l, unsupported("linux.resources.memory.kernel and kernelTCP")
		case m.Swappiness != nil:
			return l, unsupported("linux.resources.memory.swappiness")
		case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
			return l, unsupported("linux.resources.memory.disableOOMKiller")
		}
		if m.Limit != nil && *m.Limit > 0 {
			l.Memory = *m.Limit
		}
		if m.Swap != nil && *m.Swap != 0 {
			l.MemorySwap = *m.Swap
		}
	}
	if c := r.CPU; c != nil {
		switch {
		case c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0, c.RealtimePeriod != nil && *c.RealtimePeriod != 0:
			return l, unsupported("linux.resources.cpu.realtimeRuntime and realtimePeriod")
		case c.Mems != "":
			return l, unsupported("linux.resources.cpu.mems")
		case c.Idle != nil && *c.Idle != 0:
			return l, unsupported("linux.resources.cpu.idle")
		case c.Burst != nil && *c.Burst != 0:
			return l, unsupported("linux.resources.cpu.burst")
		}
		if c.Shares != nil && *c.Shares != 0 {
			l.CPUWeight = cgroupv2.SharesToWeight(int64(*c.Shares))
		}
		if c.Quota != nil && *c.Quota > 0 {
			l.CPUQuota = *c.Quota
			l.CPUPeriod = 100000
			if c.Period != nil && *c.Period != 0 {
				l.CPUPeriod = int64(*c.Period)
			}
		}
		if c.Cpus != "" {
			if err := cgroupv2.ValidCpuset(c.Cpus); err != nil {
				return l, fmt.Errorf("linux.resources.cpu.cpus: %w", err)
			}
			l.CpusetCpus = c.Cpus
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		l.PidsLimit = *p.Limit
	}
	return l, nil
}

// InUserNS: this process runs in a user namespace other than the
// host's (its uid map is not the whole range).
func InUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}
