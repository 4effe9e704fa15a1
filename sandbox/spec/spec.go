// Package spec is the sandbox's spec: everything the sandbox's setup needs
// to build it and start its command, as the parent sends it (internal/proto
// draws the setup protocol), and the record of how a sandbox ended.
package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/atomicwriter"
)

// Spec is everything the init needs to build the sandbox and start its
// command. Paths are host paths unless said otherwise.
type Spec struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`

	Rootfs Rootfs `json:"rootfs"`
	// StateDir holds the generated /etc files (hostname, hosts,
	// resolv.conf) and, for AutoRemove, is deleted by the init at exit.
	StateDir   string `json:"stateDir"`
	AutoRemove bool   `json:"autoRemove"`

	Mounts []Mount `json:"mounts,omitempty"`
	// Network is "none" (own namespace, loopback up), "host",
	// "slirp4netns" or "pasta" (own namespace, user-mode network).
	Network string `json:"network"`
	// NetworkOptions is the whole --network value, as given (inspect).
	NetworkOptions string `json:"networkOptions,omitempty"`
	// Net is filled in at each start, for user-mode networks.
	Net *NetConfig `json:"net,omitempty"`
	// Bypass: the command runs under package network/bypass (TCP through
	// host sockets); setup installs it and sends its listener.
	Bypass bool `json:"bypass,omitempty"`
	// Cgroup: the sandbox has a cgroup of its own (limits), which its
	// cgroup namespace shows at /sys/fs/cgroup, read-only.
	Cgroup bool `json:"cgroup,omitempty"`
	// Seccomp is the compiled filter that the command runs under, as
	// package sandbox/seccomp encodes it (nil only when SeccompProfile is
	// SeccompUnconfined). It is computed at each start.
	Seccomp []byte `json:"seccomp,omitempty"`
	// SeccompProfile names the profile: "default" (docker's), the path of
	// the file it came from, or SeccompUnconfined.
	SeccompProfile string `json:"seccompProfile,omitempty"`

	Process Process `json:"process"`

	ReadOnly        bool     `json:"readOnly,omitempty"`
	NoNewPrivileges bool     `json:"noNewPrivileges,omitempty"`
	Capabilities    []string `json:"capabilities"`
	MaskedPaths     []string `json:"maskedPaths"`
	ReadonlyPaths   []string `json:"readonlyPaths"`
	// UserNS is true when the sandbox has its own user namespace (always,
	// unless usandbox runs as real root).
	UserNS bool `json:"userns"`
	// SingleID: the user namespace maps one ID only: setgroups is denied
	// and no other group (devpts gid=5) exists.
	SingleID bool `json:"singleID,omitempty"`
	// Privileged: podman's rootless --privileged (the caller dropped the
	// masked and read-only paths and the filter): the host's devices that
	// the user may open are bound into /dev as well.
	Privileged bool `json:"privileged,omitempty"`

	// UIDMap and GIDMap are the sandbox's own ID maps, in host IDs
	// (--userns=keep-id, --uidmap, --gidmap); empty: the user's namespace
	// map, as every other sandbox.
	UIDMap []IDMap `json:"uidMap,omitempty"`
	GIDMap []IDMap `json:"gidMap,omitempty"`
	// AddUsers and AddGroups are lines for the image's /etc/passwd and
	// /etc/group (keep-id, as podman), each added only when the image
	// has no entry of its name or ID.
	AddUsers  []PasswdEntry `json:"addUsers,omitempty"`
	AddGroups []GroupEntry  `json:"addGroups,omitempty"`
	// ShmSize is the size of /dev/shm in bytes (--shm-size; 0: no limit,
	// as tmpfs takes it); nil: 64 MiB.
	ShmSize *int64 `json:"shmSize,omitempty"`
	// Devices are host devices bound into the sandbox (--device).
	Devices []Device `json:"devices,omitempty"`
	// OCI, when set, makes this an OCI runtime's container (see OCI).
	OCI *OCI `json:"oci,omitempty"`
}

// IDMap is one line of a uid_map or gid_map.
type IDMap struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

// PasswdEntry is an /etc/passwd line.
type PasswdEntry struct {
	Name     string `json:"name"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	Gecos    string `json:"gecos,omitempty"`
	Home     string `json:"home"`
	Shell    string `json:"shell"`
	Password string `json:"password"`
}

// GroupEntry is an /etc/group line.
type GroupEntry struct {
	Name    string `json:"name"`
	GID     uint32 `json:"gid"`
	Members string `json:"members,omitempty"`
}

// Device is a host device (character or block) bound into the sandbox.
type Device struct {
	// Host is its path on the host, Path inside the sandbox (below /dev).
	Host string `json:"host"`
	Path string `json:"path"`
	// Rdev is the device number it had when the sandbox was created: the
	// setup binds it only if the host path still is that device.
	Rdev uint64 `json:"rdev"`
}

// Rlimit is a resource limit of the command (--ulimit).
type Rlimit struct {
	// Name is docker's (nofile, nproc, core, ...), Type its RLIMIT_*.
	Name string `json:"name"`
	Type int    `json:"type"`
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// SeccompUnconfined is the profile name of a sandbox without a filter.
const SeccompUnconfined = "unconfined"

// NetConfig is the sandbox's interface, as the network driver set it up.
type NetConfig struct {
	Dev     string `json:"dev"`
	IP      string `json:"ip"`
	Netmask int    `json:"netmask"`
	Gateway string `json:"gateway"`
	MTU     int    `json:"mtu"`
	// Configure: the init sets address, MTU and route (slirp4netns);
	// otherwise the driver did (pasta).
	Configure bool `json:"configure"`
}

// Rootfs is an overlay of image layers with a writable upper layer.
type Rootfs struct {
	// Home is the directory the Lowers are relative to (the overlay
	// driver's home in the store). The legacy mount (before kernel 6.8)
	// is made from links in StateDir to keep its options under a page.
	Home string `json:"home"`
	// Lowers are the image layers, top first, relative to Home.
	Lowers []string `json:"lowers"`
	Upper  string   `json:"upper"`
	Work   string   `json:"work"`
	// Target is where the overlay is mounted before pivot_root.
	Target string `json:"target"`
	// UserXattr: the layers were written in a user namespace (overlay's
	// userxattr option).
	UserXattr bool `json:"userxattr"`
	// MountProgram is fuse-overlayfs when native overlay is unusable.
	MountProgram string `json:"mountProgram,omitempty"`
}

// Mount is a bind mount or a volume (-v, --mount), a tmpfs (--tmpfs) or
// a generated /etc file.
type Mount struct {
	// Type is "bind", "volume" or "tmpfs".
	Type string `json:"type"`
	// Source is a host path (bind; volume: the volume's _data).
	Source string `json:"source,omitempty"`
	// Name is a volume's name (volume).
	Name string `json:"name,omitempty"`
	// Anonymous: the volume was made for this sandbox (-v /path, the
	// image's VOLUME) and goes with it (rm -v, --rm).
	Anonymous bool `json:"anonymous,omitempty"`
	// CopyUp: the volume is filled from the image's files at Destination
	// the first time it is mounted over some (unless nocopy).
	CopyUp bool `json:"copyUp,omitempty"`
	// Chown (U): the source is chowned, recursively, to the command's
	// user, in the user namespace, before it is mounted.
	Chown bool `json:"chown,omitempty"`
	// Overlay (O, podman's): the sandbox writes to a layer of its own
	// over Source (a host directory), which stays as it is; the layer
	// is made afresh at each start, in StateDir.
	Overlay bool `json:"overlay,omitempty"`
	// Destination is a path inside the sandbox.
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"readOnly,omitempty"`
	// Options for tmpfs ("size=64m,mode=1777").
	Options string `json:"options,omitempty"`
	// Generated: usandbox's own, not the user's (--read-only's tmpfs):
	// not listed among the sandbox's volumes.
	Generated bool `json:"generated,omitempty"`
}

// OverlayVolumesDir, in StateDir, holds the layers of the sandbox's O
// volumes (Mount.Overlay), one directory per mount index.
const OverlayVolumesDir = "overlay-volumes"

// Process is the command to run.
type Process struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	// Cwd inside the sandbox; created if missing, like docker does.
	Cwd string `json:"cwd"`
	// User is "uid", "uid:gid", "name" or "name:group", resolved inside
	// the sandbox against its /etc/passwd and /etc/group.
	User     string `json:"user"`
	Terminal bool   `json:"terminal,omitempty"`
	// GroupAdd are supplementary groups (--group-add), names or numbers,
	// resolved inside against /etc/group.
	GroupAdd []string `json:"groupAdd,omitempty"`
	// Rlimits are set before the command starts (--ulimit).
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Rows and Cols size the terminal at start.
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

// ExitFile, in a sandbox's directory, says how it ended:
// "CODE UNIXNANO [oom]", padded with spaces to exitRecordSize. While the
// sandbox runs it holds exitPending, of the same size: the space of the
// record is taken when the sandbox starts, and WriteExit overwrites it in
// place, so a store that fills up while the sandbox runs still gets its
// exit status (a new file could not be written, and a free lock without
// an exit reads as 137).
const ExitFile = "exit"

// exitRecordSize is the size of every exit record: "CODE UNIXNANO oom"
// is at most 3+1+19+4 bytes.
const exitRecordSize = 64

// exitPending is the reserved exit record: not an exit (ReadExit).
var exitPending = pad("pending")

func pad(s string) string { return s + strings.Repeat(" ", exitRecordSize-1-len(s)) + "\n" }

// ReserveExit makes the exit record of a sandbox that starts now: the
// previous run's record goes, and the space for this one's is taken.
func ReserveExit(dir string) error {
	path := filepath.Join(dir, ExitFile)
	// The write takes the space: tmpfs allocates its pages, and ext4's
	// delayed allocation reserves the blocks at write time, so the
	// overwrite needs none (a copy-on-write filesystem, btrfs, still may:
	// WriteExit's error then says so). No fsync: it would cost every
	// start a journal commit.
	//
	// Hence no atomicwriter here, unlike WriteExit's new record: it
	// always fsyncs, and durability buys the reservation nothing (a
	// pending record lost in a crash reads as none, and WriteExit then
	// writes a whole one). The fixed temporary name is safe: the caller
	// holds the sandbox's lock, so there is one writer at a time.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(exitPending), 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// ReadExit reads the exit record; ok is false if there is none (or only
// the reserved one).
func ReadExit(dir string) (code int, at time.Time, oom bool, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, ExitFile))
	if err != nil {
		return 0, time.Time{}, false, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, time.Time{}, false, false
	}
	code, err = strconv.Atoi(f[0])
	if err != nil {
		return 0, time.Time{}, false, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, time.Time{}, false, false
	}
	return code, time.Unix(0, n), len(f) > 2 && f[2] == "oom", true
}

// WriteExit records how a sandbox ended; the first writer wins. It
// overwrites the reserved record in place (see ExitFile); without one (a
// sandbox started by an older usandbox) it writes a new file. The
// overwrite in place is what an atomic writer cannot do: a new file needs
// new blocks, which a full store does not have.
func WriteExit(dir string, code int, oom bool) error {
	if _, _, _, ok := ReadExit(dir); ok {
		return nil
	}
	s := fmt.Sprintf("%d %d", code, time.Now().UnixNano())
	if oom {
		s += " oom"
	}
	rec := []byte(pad(s))
	path := filepath.Join(dir, ExitFile)
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		st, err := f.Stat()
		if err == nil && st.Size() == exitRecordSize {
			_, err = f.WriteAt(rec, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		}
		f.Close()
	}
	return atomicwriter.WriteFile(path, rec, 0o600)
}
