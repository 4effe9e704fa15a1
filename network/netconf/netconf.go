// Package netconf keeps the configuration of user-defined networks
// (network create/ls/inspect/rm/prune): one JSON file per network under
// the store's data root, so networks outlive a reboot, as podman's do.
// What runs (the namespaces, bridges, resolvers) is package
// network/holder's, and exists only while a network has a member.
package netconf

import "time"

// Network is a user-defined network's configuration.
type Network struct {
	// Name is unique in the store; ID is 64 hex digits, also unique.
	Name string `json:"name"`
	ID   string `json:"id"`
	// Driver is always "bridge".
	Driver string `json:"driver"`
	// Subnet is an IPv4 network (CIDR, e.g. 10.89.0.0/24) and Gateway an
	// address in it (default: the first), the members' default route and
	// the resolver's address.
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
	// Internal: no outbound route; the resolver answers only members.
	Internal bool `json:"internal,omitempty"`
	// MTU of the bridge and the members' interfaces (default 65520).
	MTU int `json:"mtu"`
	// DNS are the upstream servers of the network's resolver, IP or
	// IP:PORT (default: the user-mode stack's forwarder, which asks the
	// host's resolvers). A loopback address is the host's, reached
	// through the user-mode stack.
	DNS     []string          `json:"dns,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	Created time.Time         `json:"created"`
}
