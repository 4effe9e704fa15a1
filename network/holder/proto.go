package holder

import (
	"usandbox/network/netconf"
)

// The holder's protocol, on its unix socket (framing: package
// internal/wire, one JSON message per frame, fds as SCM_RIGHTS). Each
// connection is one client's session; the holder answers every request
// with its reply or an Error.
//
//	client (run, network connect …)          holder
//	-------------------------------          ------
//	[networks lock taken; socket connected, or a holder started]
//	Reserve{id, name, networks} + run's pidfd ->
//	                                          makes a network's namespace,
//	                                          bridge, NAT, user-mode stack
//	                                          and resolver on its first
//	                                          member; picks the addresses
//	                 <- Reserved{addresses} + the holder's pidfd
//	[lock released; the sandbox's user namespace is made in the holder's]
//	Attach{id} + the keeper's netns fd, the init's pidfd ->
//	                                          a veth per network, names on
//	                                          the resolvers; the member
//	                                          lives as long as its init
//	                 <- Attached{}
//
// The other requests (Connect, Disconnect, Status) are one round trip
// each.
const (
	KindReserve    = "reserve"
	KindReserved   = "reserved"
	KindAttach     = "attach"
	KindAttached   = "attached"
	KindConnect    = "connect"
	KindDisconnect = "disconnect"
	KindStatus     = "status"
	KindOK         = "ok"
	KindError      = "error"
)

// Request is what a client asks; Kind says which fields count.
type Request struct {
	Kind string `json:"kind"`
	// ID and Name are the sandbox's (Reserve, Attach, Connect,
	// Disconnect).
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Networks are those to join (Reserve: all of the sandbox's, in
	// order; Connect: one).
	Networks []Join `json:"networks,omitempty"`
	// Network is the one to leave (Disconnect).
	Network string `json:"network,omitempty"`
	// KeeperPid and InitPid are the sandbox's (Attach): a holder started
	// after this one was killed finds the members it left through them
	// (members.json).
	KeeperPid int `json:"keeperPid,omitempty"`
	InitPid   int `json:"initPid,omitempty"`
}

// Join is one network a sandbox joins, with its configuration (the
// holder reads no store) and the sandbox's aliases on it.
type Join struct {
	Config  netconf.Network `json:"config"`
	Aliases []string        `json:"aliases,omitempty"`
}

// Reply is the holder's answer.
type Reply struct {
	Kind string `json:"kind"`
	// Addresses are the sandbox's, one per network (Reserved, Connect).
	Addresses []Address `json:"addresses,omitempty"`
	// Networks are the networks that have members (Status).
	Networks []NetworkStatus `json:"networks,omitempty"`
	// Error is a failure (KindError); Conflict says it was one of names
	// or addresses (a name in use), not of the holder.
	Error    string `json:"error,omitempty"`
	Conflict bool   `json:"conflict,omitempty"`
}

// Address is a sandbox's interface on one network.
type Address struct {
	Network string `json:"network"`
	// IfName is the interface's name in the sandbox (eth0, eth1, …);
	// HostIf the name of its peer on the network's bridge.
	IfName string `json:"ifName"`
	HostIf string `json:"hostIf"`
	// IP is the sandbox's address, Prefix the subnet's length.
	IP      string `json:"ip"`
	Prefix  int    `json:"prefix"`
	Gateway string `json:"gateway"`
	MAC     string `json:"mac,omitempty"`
}

// NetworkStatus is a network that runs, with its members.
type NetworkStatus struct {
	Name    string         `json:"name"`
	Members []MemberStatus `json:"members"`
	// Config is the network's configuration as its holder runs it.
	Config netconf.Network `json:"config"`
}

// MemberStatus is one member of a network.
type MemberStatus struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	Address Address  `json:"address"`
	// Attached is false while the sandbox is being started (reserved).
	Attached bool `json:"attached"`
	// KeeperPid, InitPid and their start times (clock ticks since boot,
	// /proc/PID/stat) say which processes the member is, for a holder
	// that adopts it.
	KeeperPid   int    `json:"keeperPid,omitempty"`
	KeeperStart uint64 `json:"keeperStart,omitempty"`
	InitPid     int    `json:"initPid,omitempty"`
	InitStart   uint64 `json:"initStart,omitempty"`
}
