package inner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/wire"
	"usandbox/sandbox/caps"
	"usandbox/sandbox/spec"
)

// An OCI container (spec.OCI, usandbox-runc's) is built by the same steps
// as a sandbox, with the same primitives and the same invariants (see the
// package comment); what differs is where the pieces come from: the root
// is the bundle's directory, bound onto itself, the mounts and devices
// are the bundle's, in its order, and the command waits for the
// runtime's start on a FIFO before it drops its privileges and runs.

// ociMain is Main for an OCI container.
func ociMain(s *spec.Spec, conn *os.File) error {
	var fifo *os.File
	if s.OCI.Fifo != "" {
		// Sent after the spec, so that it comes after closeInherited.
		var m proto.SetupMessage
		fds, err := wire.Recv(conn, &m)
		if err != nil || m.Kind != proto.KindFifo || len(fds) != 1 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return fail(fmt.Errorf("the runtime sent no start FIFO (%v)", err))
		}
		fifo = os.NewFile(uintptr(fds[0]), "exec.fifo")
	}
	if err := ociSetup(s, conn); err != nil {
		if fifo != nil {
			fifo.Close()
		}
		return err
	}
	return ociCommand(s, conn, fifo, true)
}

// ociSetup builds the container's root and enters it.
func ociSetup(s *spec.Spec, conn *os.File) error {
	o := s.OCI
	prop := unix.MS_SLAVE
	if o.RootPropagation != 0 {
		prop = o.RootPropagation
	}
	if err := unix.Mount("", "/", "", uintptr(prop|unix.MS_REC), ""); err != nil {
		return fail(fmt.Errorf("setting the propagation of the host's mounts: %w", err))
	}
	if prop == unix.MS_SHARED {
		// pivot_root refuses a new root whose parent mount is shared.
		if err := parentMountPrivate(o.Rootfs); err != nil {
			return fail(err)
		}
	}
	// pivot_root wants the new root to be a mount: the bundle's
	// directory, bound onto itself with everything mounted below it.
	mfd, err := cloneTree(o.Rootfs, true)
	if err != nil {
		return fail(fmt.Errorf("the root filesystem: %w", err))
	}
	t, err := os.OpenFile(o.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return fail(fmt.Errorf("the root filesystem: %w", err))
	}
	err = attachTo(mfd, int(t.Fd()))
	unix.Close(mfd)
	t.Close()
	if err != nil {
		return fail(fmt.Errorf("binding the root filesystem: %w", err))
	}
	r, err := openRoot(o.Rootfs)
	if err != nil {
		return fail(err)
	}
	err = ociMounts(r, o)
	if err == nil && !devBound(o) {
		err = ociDevices(r, o)
	}
	r.close()
	if err != nil {
		return fail(err)
	}
	if o.RuntimeHooks {
		if err := wire.Send(conn, proto.SetupMessage{Kind: proto.KindHooks}); err != nil {
			return fail(err)
		}
		var m proto.SetupMessage
		if _, err := wire.Recv(conn, &m); err != nil || m.Kind != proto.KindResume {
			return fail(fmt.Errorf("the runtime did not resume the container after its hooks (%v)", err))
		}
	}
	if err := RunHooks("createContainer", o.CreateContainer, o.State); err != nil {
		return fail(err)
	}
	if err := pivot(o.Rootfs); err != nil {
		return fail(err)
	}
	// Before the read-only paths: /proc/sys is one of them.
	for k, v := range o.Sysctl {
		if err := writeSysctl(k, v); err != nil {
			return fail(err)
		}
	}
	if err := ociFinishMounts(s); err != nil {
		return fail(err)
	}
	if o.UTS {
		if s.Hostname != "" {
			if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
				return fail(fmt.Errorf("setting the hostname: %w", err))
			}
		}
		if o.Domainname != "" {
			if err := unix.Setdomainname([]byte(o.Domainname)); err != nil {
				return fail(fmt.Errorf("setting the domain name: %w", err))
			}
		}
	}
	if o.NetNS {
		if err := loopbackUp(); err != nil {
			return fail(err)
		}
	}
	return nil
}

// parentMountPrivate makes the mount that path is on private (not its
// children), set on the opened mount: the mount point is the longest one
// of /proc/self/mountinfo that holds path.
func parentMountPrivate(path string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	best := "/"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	fd, err := unix.Open(best, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("the mount of the root filesystem: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Propagation: unix.MS_PRIVATE}); err != nil {
		return fmt.Errorf("making the mount of the root filesystem (%s) private: %w", best, err)
	}
	return nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// devBound: the bundle binds /dev from somewhere, so no device is made.
func devBound(o *spec.OCI) bool {
	for _, m := range o.Mounts {
		if filepath.Clean("/"+m.Destination) == "/dev" && (m.Type == "bind" || hasOption(m.Options, "bind") || hasOption(m.Options, "rbind")) {
			return true
		}
	}
	return false
}

// mountOpts is an OCI mount's options, split.
type mountOpts struct {
	attrs, recAttrs uint64 // MOUNT_ATTR_*: on the mount / on every mount below too
	prop            int    // MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE
	recProp         bool
	data            []string // filesystem options (fsconfig)
	bind, rbind     bool
}

// parseMountOptions splits options as mount(8) reads them. What has no
// meaning here (idmap, tmpcopyup, remount, ...) is refused by name.
func parseMountOptions(opts []string) (mountOpts, error) {
	var m mountOpts
	attr := map[string]uint64{
		"ro": unix.MOUNT_ATTR_RDONLY, "nosuid": unix.MOUNT_ATTR_NOSUID, "nodev": unix.MOUNT_ATTR_NODEV,
		"noexec": unix.MOUNT_ATTR_NOEXEC, "noatime": unix.MOUNT_ATTR_NOATIME, "strictatime": unix.MOUNT_ATTR_STRICTATIME,
		"nodiratime": unix.MOUNT_ATTR_NODIRATIME, "nosymfollow": unix.MOUNT_ATTR_NOSYMFOLLOW,
	}
	prop := map[string]int{"shared": unix.MS_SHARED, "slave": unix.MS_SLAVE, "private": unix.MS_PRIVATE, "unbindable": unix.MS_UNBINDABLE}
	for _, o := range opts {
		if a, ok := attr[o]; ok {
			m.attrs |= a
			continue
		}
		if a, ok := attr[strings.TrimPrefix(o, "r")]; ok && strings.HasPrefix(o, "r") {
			m.recAttrs |= a
			continue
		}
		if p, ok := prop[o]; ok {
			m.prop = p
			continue
		}
		if p, ok := prop[strings.TrimPrefix(o, "r")]; ok && strings.HasPrefix(o, "r") {
			m.prop, m.recProp = p, true
			continue
		}
		switch o {
		case "bind":
			m.bind = true
		case "rbind":
			m.bind, m.rbind = true, true
		case "rw", "defaults", "suid", "dev", "exec", "atime", "diratime", "relatime", "async", "nouser", "auto", "noauto", "norelatime", "loud":
			// The defaults of a new mount.
		case "sync", "dirsync", "lazytime", "silent", "mand", "nomand":
			m.data = append(m.data, o) // superblock flags, fsconfig takes them
		case "remount", "idmap", "ridmap", "tmpcopyup", "move", "rmove", "nostrictatime", "nolazytime", "rro=0":
			return m, fmt.Errorf("mount option %q is not supported by usandbox-runc", o)
		default:
			if strings.HasPrefix(o, "X-") || strings.HasPrefix(o, "x-") {
				continue // userspace options, for other programs
			}
			m.data = append(m.data, o)
		}
	}
	return m, nil
}

// procAllowed are the files of /proc that a bind may cover (lxcfs's),
// as runc allows.
var procAllowed = map[string]bool{
	"/proc/cpuinfo": true, "/proc/diskstats": true, "/proc/meminfo": true, "/proc/stat": true,
	"/proc/swaps": true, "/proc/uptime": true, "/proc/loadavg": true, "/proc/slabinfo": true,
	"/proc/net/dev": true, "/proc/sys/kernel/ns_last_pid": true,
}

// ociMounts makes the bundle's mounts, in order, each on a target opened
// inside the root (see root.target), its flags set on the detached mount
// before it is attached.
func ociMounts(r *root, o *spec.OCI) error {
	for _, m := range o.Mounts {
		dest := filepath.Clean("/" + m.Destination)
		opts, err := parseMountOptions(m.Options)
		if err != nil {
			return fmt.Errorf("mount %s: %w", dest, err)
		}
		if err := ociMount(r, o, m, dest, opts); err != nil {
			return fmt.Errorf("mount %s (%s): %w", dest, m.Type, err)
		}
	}
	return nil
}

func ociMount(r *root, o *spec.OCI, m spec.OCIMount, dest string, opts mountOpts) error {
	file := false
	var mfd int
	var err error
	// A new filesystem gets opts.attrs from fsmount, a clone of a tree
	// from mount_setattr.
	cloned := true
	switch {
	case opts.bind || m.Type == "bind":
		// Filesystem options mean nothing to a bind: mount(2) ignores
		// them, and so does this.
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		file = !fi.IsDir()
		if mfd, err = cloneTree(m.Source, opts.rbind); err != nil {
			return err
		}
	case m.Type == "sysfs" && !o.NetNS:
		// Without a network namespace of its own, sysfs cannot be
		// mounted (EPERM): the host's, read-only, as for a sandbox.
		if mfd, err = cloneTree("/sys", true); err != nil {
			return err
		}
		opts.recAttrs |= unix.MOUNT_ATTR_RDONLY
	case m.Type == "cgroup" || m.Type == "cgroup2":
		data := opts.data
		if m.Source != "" {
			data = append([]string{"source=" + m.Source}, data...)
		}
		mfd, err = newFS("cgroup2", data, int(opts.attrs))
		if errors.Is(err, unix.EPERM) {
			// No cgroup namespace of its own: the host's hierarchy,
			// read-only.
			if mfd, err = cloneTree("/sys/fs/cgroup", true); err == nil {
				opts.recAttrs |= unix.MOUNT_ATTR_RDONLY
			}
		}
		if err != nil {
			return err
		}
	default:
		data := opts.data
		if m.Source != "" {
			// What mountinfo shows as the source, as mount(2) would.
			data = append([]string{"source=" + m.Source}, data...)
		}
		if mfd, err = newFS(m.Type, data, int(opts.attrs)); err != nil {
			return err
		}
		cloned = false
	}
	defer unix.Close(mfd) // a detached mount: freed whatever close says
	if m.Type == "cgroup" || m.Type == "cgroup2" {
		cloned = true // either way: setting again is harmless
	}
	if cloned && opts.attrs != 0 {
		if err := setMountAttrs(mfd, opts.attrs, false); err != nil {
			return fmt.Errorf("setting its flags: %w", err)
		}
	}
	if opts.recAttrs != 0 {
		if err := setMountAttrs(mfd, opts.recAttrs, true); err != nil {
			return fmt.Errorf("setting its flags: %w", err)
		}
	}
	t, err := r.target(dest, file)
	if err != nil {
		return err
	}
	defer t.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(t.Fd()), &st); err != nil {
		return err
	}
	if st.Type == unix.PROC_SUPER_MAGIC && !procAllowed[dest] {
		return errors.New("the destination resolves into /proc: pick another destination")
	}
	if err := attachTo(mfd, int(t.Fd())); err != nil {
		return err
	}
	if opts.prop != 0 {
		// On the attached mount, found again by its target: an O_PATH
		// open of the same path now gives the new mount's root.
		top, err := r.target(dest, file)
		if err != nil {
			return err
		}
		defer top.Close()
		flags := uint(unix.AT_EMPTY_PATH)
		if opts.recProp {
			flags |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(int(top.Fd()), "", flags, &unix.MountAttr{Propagation: uint64(opts.prop)}); err != nil {
			return fmt.Errorf("setting its propagation: %w", err)
		}
	}
	return nil
}

// setMountAttrs is setAttrs for any attributes, an atime mode included
// (which replaces the mount's: mount_setattr wants the atime field
// cleared along).
func setMountAttrs(mfd int, set uint64, recursive bool) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: set}
	if set&(unix.MOUNT_ATTR_NOATIME|unix.MOUNT_ATTR_STRICTATIME) != 0 {
		attr.Attr_clr = unix.MOUNT_ATTR__ATIME
	}
	return unix.MountSetattr(mfd, "", flags, &attr)
}

// defaultDevices are the devices every container has (the runtime spec's
// list), with /dev/ptmx and the links of devLinks.
var defaultDevices = []spec.OCIDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: 0o666},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: 0o666},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: 0o666},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: 0o666},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: 0o666},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: 0o666},
}

// ociDevices makes the default devices and the bundle's in /dev: bound
// from the host's nodes of the same path and number (BindDevices: a user
// namespace cannot make device nodes), else made with mknod. Then the
// standard links.
func ociDevices(r *root, o *spec.OCI) error {
	devs := append([]spec.OCIDevice(nil), o.Devices...)
	for _, d := range defaultDevices {
		given := false
		for _, g := range o.Devices {
			given = given || filepath.Clean(g.Path) == d.Path
		}
		if !given {
			devs = append(devs, d)
		}
	}
	for _, d := range devs {
		if err := ociDevice(r, o, d); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	dev, err := r.target("/dev", false)
	if err != nil {
		return err
	}
	defer dev.Close()
	links := [][2]string{{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"core", "/proc/kcore"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[1], int(dev.Fd()), l[0]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("/dev/%s: %w", l[0], err)
		}
	}
	return nil
}

func deviceType(t string) (uint32, error) {
	switch t {
	case "c", "u":
		return unix.S_IFCHR, nil
	case "b":
		return unix.S_IFBLK, nil
	case "p":
		return unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("unknown device type %q", t)
}

func ociDevice(r *root, o *spec.OCI, d spec.OCIDevice) error {
	path := filepath.Clean("/" + d.Path)
	if !strings.HasPrefix(path, "/dev/") {
		return errors.New("a device must be below /dev")
	}
	typ, err := deviceType(d.Type)
	if err != nil {
		return err
	}
	rdev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if o.BindDevices {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return fmt.Errorf("the host has no such device to bind (a user namespace cannot make device nodes): %w", err)
		}
		if st.Mode&unix.S_IFMT != typ || (typ != unix.S_IFIFO && st.Rdev != rdev) {
			return fmt.Errorf("the host's %s is not device %s %d:%d (a user namespace cannot make device nodes, only bind the host's)", path, d.Type, d.Major, d.Minor)
		}
		mfd, err := cloneTree(path, false)
		if err != nil {
			return err
		}
		defer unix.Close(mfd)
		t, err := r.target(path, true)
		if err != nil {
			return err
		}
		defer t.Close()
		return attachTo(mfd, int(t.Fd()))
	}
	dir, err := r.target(filepath.Dir(path), false)
	if err != nil {
		return err
	}
	defer dir.Close()
	name := filepath.Base(path)
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	mode := d.FileMode & 0o7777
	if mode == 0 {
		mode = 0o666
	}
	if err := unix.Mknodat(int(dir.Fd()), name, typ|mode, int(rdev)); err != nil {
		return err
	}
	// The mode exactly (mknod's was less the umask).
	if err := unix.Fchmodat(int(dir.Fd()), name, mode, 0); err != nil {
		return err
	}
	return unix.Fchownat(int(dir.Fd()), name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW)
}

// ociFinishMounts is finishMounts for a container: the bundle's
// read-only and masked paths, the read-only root (hardenRoot) and the
// root's propagation, each on the opened mount.
func ociFinishMounts(s *spec.Spec) error {
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the new root: %w", err)
	}
	defer root.Close() // an O_PATH fd: close has nothing to report
	if err := hardenRoot(root, s, nil); err != nil {
		return err
	}
	if p := s.OCI.RootPropagation; p != 0 {
		if err := unix.MountSetattr(int(root.Fd()), "", unix.AT_EMPTY_PATH, &unix.MountAttr{Propagation: uint64(p)}); err != nil {
			return fmt.Errorf("setting the root's propagation: %w", err)
		}
	}
	return nil
}

// writeSysctl writes one of the bundle's sysctls, in the container's
// /proc/sys (only namespaced ones are writable from a user namespace).
func writeSysctl(key, value string) error {
	if strings.Contains(key, "..") || strings.Contains(key, "/") && strings.Contains(key, ".") {
		return fmt.Errorf("sysctl %q: not a sysctl name", key)
	}
	root, err := os.OpenFile("/proc/sys", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	defer root.Close()
	name := strings.ReplaceAll(key, ".", "/")
	fd, err := unix.Openat2(int(root.Fd()), name, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CLOEXEC | unix.O_TRUNC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	f := os.NewFile(uintptr(fd), name)
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// RunHooks runs an OCI bundle's hooks of one kind, in order, each with
// the container's state on its stdin; a failure, or a hook that outlives
// its timeout, is an error. Setup runs createContainer and
// startContainer in the container; the runtime the others, on the host.
func RunHooks(kind string, hooks []spec.OCIHook, state []byte) error {
	for _, h := range hooks {
		ctx := context.Background()
		if h.Timeout != nil && *h.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
			defer cancel()
		}
		cmd := exec.CommandContext(ctx, h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		if cmd.Env == nil {
			cmd.Env = []string{}
		}
		cmd.Stdin = bytes.NewReader(state)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("timed out after %ds", *h.Timeout)
			}
			return fmt.Errorf("%s hook %s: %v: %s", kind, h.Path, err, strings.TrimSpace(out.String()))
		}
	}
	return nil
}

// ociCommand prepares the container's process and, once the runtime's
// start came (fifo), drops what it may not keep and replaces itself with
// the command.
func ociCommand(s *spec.Spec, conn *os.File, fifo *os.File, create bool) error {
	o := s.OCI
	p := s.Process
	if err := setRlimits(p.Rlimits); err != nil {
		return fail(err)
	}
	env := append([]string(nil), p.Env...)
	if getenv(env, "HOME") == "" {
		env = append(env, "HOME="+homeOf(o.UID))
	}
	path, err := enterAndFind(p, env, create, "the process has no args")
	if err != nil {
		return err
	}
	if !o.NoNewKeyring {
		if err := newSessionKeyring(); err != nil {
			return fail(err)
		}
	}
	var console func(*os.File) error
	if o.Console {
		console = bindConsole
	}
	if err := newSession(p, conn, console); err != nil {
		return err
	}
	// oomScoreAdj was written by the C stage, before the user namespace
	// (non-dumpable in it, this process may not open the file).
	// The user is changed to only after the start: a user the namespace
	// does not map is an error of create's, as it is runc's.
	if err := checkMapped(o); err != nil {
		return fail(err)
	}
	umask := 0o022
	if o.Umask != nil {
		umask = int(*o.Umask)
	}
	unix.Umask(umask)
	if fifo != nil {
		if err := wire.Send(conn, proto.SetupMessage{Kind: proto.KindCreated}); err != nil {
			return fail(err)
		}
		// The runtime's create is done: nobody reads the socket any
		// more. What fails from now on is said on the container's
		// stderr, and in its exit status.
		conn.Close()
		if err := waitStart(fifo); err != nil {
			return fail(err)
		}
	}
	if err := RunHooks("startContainer", o.StartContainer, o.State); err != nil {
		return fail(err)
	}
	// Last, because they take from this process what setup needed.
	if err := limitCapabilities(o.Caps.Bounding); err != nil {
		return fail(err)
	}
	if o.UID != 0 {
		// Keep the permitted set through the change of user: the
		// bundle's sets are applied after it.
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fail(fmt.Errorf("keeping capabilities: %w", err))
		}
	}
	if s.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail(fmt.Errorf("setting no_new_privs: %w", err))
		}
	}
	if err := loadSeccomp(s); err != nil {
		return fail(err)
	}
	if err := setOCIUser(o); err != nil {
		return fail(err)
	}
	if err := setCapSets(o.Caps); err != nil {
		return fail(err)
	}
	if o.Detached {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
			return fail(fmt.Errorf("clearing the parent-death signal: %w", err))
		}
	}
	if fifo == nil {
		if err := wire.Send(conn, proto.SetupMessage{Kind: proto.KindStarted}); err != nil {
			return fail(err)
		}
	}
	err = syscall.Exec(path, p.Args, env)
	return execError(p.Args[0], err)
}

// checkMapped makes sure the process's uid, gid and additional gids are
// mapped in its user namespace.
func checkMapped(o *spec.OCI) error {
	mapped := func(file string, id uint32) (bool, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			first, err1 := strconv.ParseUint(f[0], 10, 32)
			size, err2 := strconv.ParseUint(f[2], 10, 32)
			if err1 == nil && err2 == nil && uint64(id) >= first && uint64(id) < first+size {
				return true, nil
			}
		}
		return false, nil
	}
	check := func(what, file string, id uint32) error {
		ok, err := mapped(file, id)
		if err != nil {
			// A container without /proc: the change of user says it
			// after the start.
			return nil
		}
		if !ok {
			return unmappedID(what, id, unix.EINVAL)
		}
		return nil
	}
	if err := check("user", "/proc/self/uid_map", o.UID); err != nil {
		return err
	}
	for _, g := range append([]uint32{o.GID}, o.AdditionalGids...) {
		if err := check("group", "/proc/self/gid_map", g); err != nil {
			return err
		}
	}
	return nil
}

// homeOf is uid's home in the container's /etc/passwd, or "/".
func homeOf(uid uint32) string {
	b, err := readOptional("/etc/passwd")
	if err != nil || b == nil {
		return "/"
	}
	u, err := resolveUser(strconv.FormatUint(uint64(uid), 10), bytes.NewReader(b), bytes.NewReader(nil))
	if err != nil || u.Home == "" {
		return "/"
	}
	return u.Home
}

// bindConsole binds the pty's slave onto /dev/console (created as an
// empty file inside the root if missing).
func bindConsole(tty *os.File) error {
	r, err := openRoot("/")
	if err != nil {
		return err
	}
	defer r.close()
	mfd, err := cloneFD(int(tty.Fd()), false)
	if err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	return r.attach(mfd, "/dev/console", true, false)
}

// waitStart waits for the runtime's start: a byte on the FIFO (its read
// end, opened non-blocking). A FIFO that no writer opened yet reports no
// hang-up, so poll sleeps until the start's write, or its close.
func waitStart(fifo *os.File) error {
	defer fifo.Close()
	pfd := []unix.PollFd{{Fd: int32(fifo.Fd()), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(pfd, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for the start: %w", err)
		}
		break
	}
	var b [1]byte
	n, err := unix.Read(int(fifo.Fd()), b[:])
	if err != nil || n != 1 {
		return fmt.Errorf("waiting for the start: the FIFO closed without a start (%v)", err)
	}
	return nil
}

// setOCIUser changes to the bundle's uid, gid and exactly its additional
// groups, on this thread, and makes the process non-dumpable again.
func setOCIUser(o *spec.OCI) error {
	groups := make([]int, 0, len(o.AdditionalGids))
	for _, g := range o.AdditionalGids {
		groups = append(groups, int(g))
	}
	if err := syscall.Setgroups(groups); err != nil {
		denied, _ := os.ReadFile("/proc/self/setgroups")
		if !(len(groups) == 0 && bytes.HasPrefix(denied, []byte("deny"))) {
			return fmt.Errorf("setgroups %v: %w", o.AdditionalGids, err)
		}
	}
	if err := syscall.Setresgid(int(o.GID), int(o.GID), int(o.GID)); err != nil {
		return unmappedID("group", o.GID, err)
	}
	if err := syscall.Setresuid(int(o.UID), int(o.UID), int(o.UID)); err != nil {
		return unmappedID("user", o.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making the process non-dumpable: %w", err)
	}
	return nil
}

// setCapSets gives this thread the bundle's effective, permitted,
// inheritable and ambient sets (the bounding set is already limited).
func setCapSets(c spec.OCICaps) error {
	set := func(names []string) ([]capability.Cap, error) {
		out := make([]capability.Cap, 0, len(names))
		for _, n := range names {
			v, ok := caps.Number(n)
			if !ok {
				return nil, fmt.Errorf("unknown capability %q", n)
			}
			out = append(out, capability.Cap(v))
		}
		return out, nil
	}
	cp, err := capability.NewPid2(0)
	if err == nil {
		err = cp.Load()
	}
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	cp.Clear(capability.CAPS)
	cp.Clear(capability.AMBIENT)
	for _, w := range []struct {
		which capability.CapType
		names []string
	}{{capability.EFFECTIVE, c.Effective}, {capability.PERMITTED, c.Permitted}, {capability.INHERITABLE, c.Inheritable}, {capability.AMBIENT, c.Ambient}} {
		v, err := set(w.names)
		if err != nil {
			return err
		}
		cp.Set(w.which, v...)
	}
	if err := cp.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	if err := cp.Apply(capability.AMBS); err != nil {
		return fmt.Errorf("setting ambient capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("keeping capabilities: %w", err)
	}
	return nil
}
