package sandbox

import (
	"errors"
	"fmt"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
	"usandbox/userns"
)

// ProcessOptions are the flags of the command's process and of /dev that
// the sandbox's setup applies: --group-add, --ulimit, --shm-size, --tz,
// --device.
type ProcessOptions struct {
	GroupAdd []string
	Ulimits  []spec.Rlimit
	// ShmSize is --shm-size in bytes; nil: not given.
	ShmSize *int64
	// TZ is --tz: a zone name of the host's /usr/share/zoneinfo, or
	// "local" (the host's /etc/localtime).
	TZ      string
	Devices []spec.Device
}

// ParseUlimit parses --ulimit NAME=SOFT[:HARD] with docker's names
// (go-units); -1 is unlimited. It checks no hard limit against the
// host's: applyProcess does.
func ParseUlimit(s string) (spec.Rlimit, error) {
	u, err := units.ParseUlimit(s)
	if err != nil {
		return spec.Rlimit{}, fmt.Errorf("invalid --ulimit %q: %v (want NAME=SOFT[:HARD], NAME one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)", s, err)
	}
	rl, err := u.GetRlimit()
	if err != nil {
		return spec.Rlimit{}, fmt.Errorf("invalid --ulimit %q: %v", s, err)
	}
	// -1 is RLIM_INFINITY, all bits set.
	return spec.Rlimit{Name: u.Name, Type: rl.Type, Soft: uint64(u.Soft), Hard: uint64(u.Hard)}, nil
}

// ParseShmSize parses --shm-size as podman does (go-units' RAMInBytes:
// 64m, 1g, bytes); 0 is passed on to tmpfs, where it means no limit.
func ParseShmSize(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid --shm-size %q: want a size such as 64m, 1g or a number of bytes", s)
	}
	return n, nil
}

// ParseDevice parses --device HOST[:CONTAINER][:PERMISSIONS]. CONTAINER
// (default HOST) must be below /dev. A rootless sandbox has no device
// cgroup to restrict access with, so PERMISSIONS, if given, must allow
// reading and writing (rw, rwm): read-only or write-only would not hold.
func ParseDevice(s string) (spec.Device, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 || parts[0] == "" {
		return spec.Device{}, fmt.Errorf("invalid --device %q: want HOST-PATH[:CONTAINER-PATH][:PERMISSIONS]", s)
	}
	d := spec.Device{Host: parts[0], Path: parts[0]}
	perms := ""
	switch len(parts) {
	case 2:
		if strings.HasPrefix(parts[1], "/") {
			d.Path = parts[1]
		} else {
			perms = parts[1]
		}
	case 3:
		d.Path, perms = parts[1], parts[2]
	}
	if perms != "" {
		if strings.Trim(perms, "rwm") != "" || len(perms) > 3 {
			return spec.Device{}, fmt.Errorf("invalid --device %q: invalid device mode %q (r, w, m)", s, perms)
		}
		if !strings.Contains(perms, "r") || !strings.Contains(perms, "w") {
			return spec.Device{}, fmt.Errorf("invalid --device %q: a rootless sandbox cannot restrict a device to %q (there is no device cgroup): leave out the permissions, or give rw", s, perms)
		}
	}
	if !filepath.IsAbs(d.Host) {
		return spec.Device{}, fmt.Errorf("invalid --device %q: the host path must be absolute", s)
	}
	d.Host = filepath.Clean(d.Host)
	d.Path = filepath.Clean(d.Path)
	rel, ok := strings.CutPrefix(d.Path, "/dev/")
	if !ok || rel == "" || strings.Count(rel, "/") > 1 || rel == "pts" || rel == "shm" || rel == "mqueue" ||
		strings.HasPrefix(rel, "pts/") || strings.HasPrefix(rel, "shm/") || strings.HasPrefix(rel, "mqueue/") {
		return spec.Device{}, fmt.Errorf("invalid --device %q: the container path must be /dev/NAME or /dev/DIR/NAME (not in pts, shm or mqueue)", s)
	}
	return d, nil
}

// checkDevice makes sure that d's host path is a device that the user
// can open (a user namespace gains no access to devices), and records
// its number.
func checkDevice(d *spec.Device) error {
	var st unix.Stat_t
	if err := unix.Stat(d.Host, &st); err != nil {
		return fmt.Errorf("--device %s: %w", d.Host, err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
		return fmt.Errorf("--device %s: not a device node", d.Host)
	}
	if unix.Access(d.Host, unix.R_OK) != nil && unix.Access(d.Host, unix.W_OK) != nil {
		return fmt.Errorf("--device %s: you cannot open it (mode %o, owner %d:%d), so neither can the sandbox: ask the host's administrator for access", d.Host, st.Mode&0o7777, st.Uid, st.Gid)
	}
	d.Rdev = st.Rdev
	return nil
}

// zoneinfo is where the host's time zones are.
const zoneinfo = "/usr/share/zoneinfo"

// readTZ reads the zone file of --tz tz from the host, as podman does:
// tz names a file below the host's zoneinfo, or is "local" (the host's
// /etc/localtime).
func readTZ(tz string) ([]byte, error) {
	path := "/etc/localtime"
	if tz != "local" {
		clean := filepath.Clean("/" + tz)
		if tz == "" || clean != "/"+tz || strings.HasPrefix(tz, "/") {
			return nil, fmt.Errorf("invalid --tz %q: want a zone name (Europe/Paris) or local", tz)
		}
		path = filepath.Join(zoneinfo, clean)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("--tz %s: %s: %v (zones are those of the host's %s)", tz, path, err, zoneinfo)
	}
	if len(b) < 4 || string(b[:4]) != "TZif" {
		return nil, fmt.Errorf("--tz %s: %s is not a time zone file", tz, path)
	}
	return b, nil
}

// applyProcess puts the process options into s, checked against the host
// (ulimits above the user's hard limits, devices the user cannot open):
// a bad one fails here, before anything is made. It returns the files to
// write in the sandbox's etc directory (localtime, with --tz).
func applyProcess(s *spec.Spec, o ProcessOptions, singleID bool) (map[string][]byte, error) {
	if len(o.GroupAdd) > 0 {
		if singleID || s.SingleID {
			return nil, errors.New("--group-add needs more than your own gid mapped (a sub-ID range in /etc/subgid, and no --gidmap of your gid alone): with only your own gid mapped, setgroups is denied in the sandbox")
		}
		for _, g := range o.GroupAdd {
			if g == "" || g == "keep-groups" || strings.ContainsAny(g, ": \n") {
				return nil, fmt.Errorf("invalid --group-add %q: give a group name or number (keep-groups is not supported)", g)
			}
		}
		s.Process.GroupAdd = o.GroupAdd
	}
	for _, r := range o.Ulimits {
		var cur unix.Rlimit
		if err := unix.Getrlimit(r.Type, &cur); err != nil {
			return nil, fmt.Errorf("--ulimit %s: %w", r.Name, err)
		}
		// Real root (no user namespace) may raise it.
		if r.Hard > cur.Max && os.Geteuid() != 0 {
			return nil, fmt.Errorf("--ulimit %s: the hard limit %s is above yours (%s), which only the host's root can raise: ask for at most %s", r.Name, rlimString(r.Hard), rlimString(cur.Max), rlimString(cur.Max))
		}
	}
	s.Process.Rlimits = o.Ulimits
	s.ShmSize = o.ShmSize
	for i := range o.Devices {
		if err := checkDevice(&o.Devices[i]); err != nil {
			return nil, err
		}
	}
	s.Devices = o.Devices
	if o.TZ == "" {
		return nil, nil
	}
	b, err := readTZ(o.TZ)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"localtime": b}, nil
}

func rlimString(n uint64) string {
	if n == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(n, 10)
}

// applyUserNS gives s the ID maps that r asks for (plan's otherwise),
// keep-id's default user and podman's keep-id entries for /etc/passwd
// and /etc/group: the user's own (plain keep-id), or one for a
// keep-id:uid= user (numbered, "container user").
func applyUserNS(s *spec.Spec, r userns.Request, plan *userns.Plan, userSet bool) error {
	if plan == nil {
		if r.Default() {
			return nil
		}
		return errors.New("no user namespace plan")
	}
	uidMap, gidMap, keepUser, err := plan.SandboxMaps(r)
	if err != nil {
		return invalidf("%v", err)
	}
	s.UIDMap, s.GIDMap = toSpecMaps(uidMap), toSpecMaps(gidMap)
	if len(gidMap) == 1 && gidMap[0].Size == 1 && gidMap[0].HostID == plan.GID {
		// newgidmap denies setgroups to a map of the user's own gid
		// alone (CVE-2018-7169): as in single-ID mode.
		s.SingleID = true
	}
	if !r.KeepID {
		return nil
	}
	if !userSet {
		s.Process.User = keepUser
	}
	workdir := s.Process.Cwd
	if workdir == "" {
		workdir = "/"
	}
	if r.KeepUID != nil || r.KeepGID != nil {
		if userSet {
			return nil
		}
		uid, gid, _ := strings.Cut(keepUser, ":")
		u, _ := strconv.ParseUint(uid, 10, 32)
		g, _ := strconv.ParseUint(gid, 10, 32)
		s.AddUsers = []spec.PasswdEntry{{Name: uid, Password: "*", UID: uint32(u), GID: uint32(g), Gecos: "container user", Home: workdir, Shell: "/bin/sh"}}
		s.AddGroups = []spec.GroupEntry{{Name: gid, GID: uint32(g), Members: uid}}
		return nil
	}
	name, gecos, home := hostUser(plan.UID, plan.User)
	// podman: the home is the working directory, unless the user's own
	// home (or a directory above it) is mounted in.
	h := workdir
	for d := home; d != "/" && d != "." && d != ""; d = filepath.Dir(d) {
		if mountedAt(s.Mounts, d) {
			h = home
			break
		}
	}
	s.AddUsers = []spec.PasswdEntry{{Name: name, Password: "*", UID: plan.UID, GID: plan.GID, Gecos: gecos, Home: h, Shell: "/bin/sh"}}
	s.AddGroups = []spec.GroupEntry{{Name: hostGroup(plan.GID), GID: plan.GID, Members: name}}
	return nil
}

// addNumericUser gives a sandbox whose user is a number (-u 1000, -u
// 1000:1000, or the image's User) podman's entries for it: the user
// "1000", "container user", home the working directory, and a group for
// a numeric group. They are added only where the image's /etc/passwd and
// /etc/group have no entry of that name or ID (see inner's addEntries),
// so that id, whoami and programs that look their user up work as under
// podman. Root needs none.
func addNumericUser(s *spec.Spec) {
	if s.AddUsers != nil || s.Process.User == "" {
		return // keep-id's own
	}
	uid, gid, hasGID := strings.Cut(s.Process.User, ":")
	u, err := strconv.ParseUint(uid, 10, 32)
	if err != nil || u == 0 {
		return
	}
	g, err := strconv.ParseUint(gid, 10, 32)
	numericGID := hasGID && err == nil
	if !numericGID {
		g = 0 // podman's: a named group is looked up, but the entry says 0
	}
	home := s.Process.Cwd
	if home == "" {
		home = "/"
	}
	s.AddUsers = []spec.PasswdEntry{{Name: uid, Password: "*", UID: uint32(u), GID: uint32(g), Gecos: "container user", Home: home, Shell: "/bin/sh"}}
	if numericGID && g != 0 {
		s.AddGroups = []spec.GroupEntry{{Name: gid, GID: uint32(g), Members: uid}}
	}
}

func mountedAt(ms []spec.Mount, dest string) bool {
	for _, m := range ms {
		if filepath.Clean(m.Destination) == dest {
			return true
		}
	}
	return false
}

// hostUser is the host's passwd entry of uid: name, gecos, home.
func hostUser(uid uint32, name string) (string, string, string) {
	if u, err := user.LookupUid(int(uid)); err == nil {
		return u.Name, u.Gecos, u.Home
	}
	if u, err := osuser.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username, u.Name, u.HomeDir
	}
	if name == "" {
		name = strconv.FormatUint(uint64(uid), 10)
	}
	return name, "", ""
}

// hostGroup is the host's name of gid (its number if it has none).
func hostGroup(gid uint32) string {
	if g, err := user.LookupGid(int(gid)); err == nil {
		return g.Name
	}
	if g, err := osuser.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}

func toSpecMaps(m []userns.IDMap) []spec.IDMap {
	var out []spec.IDMap
	for _, e := range m {
		out = append(out, spec.IDMap{ContainerID: e.ContainerID, HostID: e.HostID, Size: e.Size})
	}
	return out
}

func fromSpecMaps(m []spec.IDMap) []userns.IDMap {
	var out []userns.IDMap
	for _, e := range m {
		out = append(out, userns.IDMap{ContainerID: e.ContainerID, HostID: e.HostID, Size: e.Size})
	}
	return out
}

// planFor is the plan that starts a sandbox with spec s: plan itself, or
// plan writing the sandbox's own maps (checked to hold only the user's
// IDs).
func planFor(plan *userns.Plan, s *spec.Spec) (*userns.Plan, error) {
	if len(s.UIDMap) == 0 && len(s.GIDMap) == 0 {
		return plan, nil
	}
	return plan.WithMaps(fromSpecMaps(s.UIDMap), fromSpecMaps(s.GIDMap))
}
