package spec

// OCI is what an OCI runtime's container (usandbox-runc) needs beyond
// the rest of Spec: the root is a directory of the bundle rather than an
// overlay of image layers, the mounts and devices are the bundle's, in
// its order, the process's user and capabilities are given as numbers
// and sets, and the command waits for the runtime's start.
//
// A Spec with OCI set ignores Rootfs (but Rootfs.Target), Mounts,
// Network, Devices, Capabilities, Process.User and Process.GroupAdd.
type OCI struct {
	// Rootfs is the host path of the bundle's root filesystem; it is
	// bound onto itself (recursively) and becomes the root.
	Rootfs string `json:"rootfs"`
	// RootPropagation is set on the new root (MS_SHARED, MS_SLAVE,
	// MS_PRIVATE or MS_UNBINDABLE; 0: private). The host's mounts are
	// made slave (or RootPropagation, recursively) first.
	RootPropagation int        `json:"rootPropagation,omitempty"`
	Mounts          []OCIMount `json:"mounts,omitempty"`
	// Devices are made in /dev after the mounts, after the default ones
	// (null, zero, full, random, urandom, tty), unless /dev is a bind
	// mount. BindDevices: bind the host's nodes (a user namespace cannot
	// mknod) instead of making them.
	Devices     []OCIDevice `json:"devices,omitempty"`
	BindDevices bool        `json:"bindDevices,omitempty"`
	// Sysctl are written to /proc/sys after pivot_root.
	Sysctl map[string]string `json:"sysctl,omitempty"`
	// UTS: the container has its own UTS namespace; Hostname (Spec's)
	// and Domainname are set there when not empty.
	UTS        bool   `json:"uts,omitempty"`
	Domainname string `json:"domainname,omitempty"`
	// NetNS: the container has a network namespace of its own (lo is
	// brought up, sysfs can be mounted).
	NetNS bool `json:"netns,omitempty"`

	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	Umask          *uint32  `json:"umask,omitempty"`
	OOMScoreAdj    *int     `json:"oomScoreAdj,omitempty"`
	Caps           OCICaps  `json:"caps"`
	// Console: bind the pty's slave onto /dev/console (process.terminal).
	Console bool `json:"console,omitempty"`
	// NoNewKeyring: the command keeps the caller's session keyring
	// (runc's --no-new-keyring).
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// Detached: the process outlives the runtime that started it (exec
	// --detach): it keeps no parent-death signal.
	Detached bool `json:"detached,omitempty"`

	// Fifo is the host path of the FIFO that the runtime's start writes
	// a byte to: setup waits for it before the command runs (empty: run
	// at once).
	Fifo string `json:"fifo,omitempty"`
	// RuntimeHooks: setup stops before pivot_root (KindHooks) until the
	// runtime has run the prestart and createRuntime hooks (KindResume).
	RuntimeHooks bool `json:"runtimeHooks,omitempty"`
	// CreateContainer hooks run in the container's namespaces before
	// pivot_root, StartContainer ones after the start, before the
	// command; each gets State on its stdin.
	CreateContainer []OCIHook `json:"createContainer,omitempty"`
	StartContainer  []OCIHook `json:"startContainer,omitempty"`
	State           []byte    `json:"state,omitempty"`
}

// OCIMount is one of the bundle's mounts.
type OCIMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options,omitempty"`
}

// OCIDevice is one of the bundle's devices.
type OCIDevice struct {
	Path     string `json:"path"`
	Type     string `json:"type"` // c, b, u or p
	Major    int64  `json:"major"`
	Minor    int64  `json:"minor"`
	FileMode uint32 `json:"fileMode"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
}

// OCICaps are the process's five capability sets, by name (CAP_*).
type OCICaps struct {
	Bounding    []string `json:"bounding,omitempty"`
	Effective   []string `json:"effective,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Ambient     []string `json:"ambient,omitempty"`
}

// OCIHook is a hook that setup runs.
type OCIHook struct {
	Path    string   `json:"path"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Timeout *int     `json:"timeout,omitempty"`
}
