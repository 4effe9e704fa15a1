// Package link is the kernel plumbing of user-defined networks: it makes
// network namespaces, the bridge and its nftables rules inside a
// network's namespace, and the veth pairs that plug members into it.
// Everything goes through netlink (no ip or nft execs: an exec costs more
// than the whole attach) and every namespace is named by an open fd,
// never by a path under /var/run/netns or a pid, so a namespace cannot be
// swapped under us and nothing needs cleaning up on disk.
//
// The caller is the network holder, root of the rootless network user
// namespace (U_net) but left in the host's network namespace; it owns
// every network namespace it made with NewNetNS and, through the user
// namespace hierarchy, every member's.
package link

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Default names and sizes.
const (
	// DefaultOutbound is the interface the user-mode stack (slirp4netns)
	// adds to a network's namespace, the way out to the host.
	DefaultOutbound = "tap0"
	// TableName is the nftables table (family ip) SetupBridge owns in a
	// network's namespace.
	TableName = "usandbox"
	// maxIfName is IFNAMSIZ less the terminating NUL.
	maxIfName = 15
)

// BridgeConfig describes a network's bridge, made inside the network's
// namespace by SetupBridge.
type BridgeConfig struct {
	// Name of the bridge interface, e.g. "usb0".
	Name string
	// MTU of the bridge (0: the kernel's default, 1500). The members'
	// veths should use the same.
	MTU int
	// Gateway is the bridge's address with the subnet's prefix length,
	// e.g. 10.89.0.1/24: the members' gateway and the subnet at once.
	Gateway netip.Prefix
	// Internal networks have no way out: no masquerade, no forwarding
	// (ip_forward stays 0 and the forward chain drops everything that is
	// not bridged between members).
	Internal bool
	// Outbound is the interface traffic leaves through (default "tap0",
	// which slirp4netns adds later; rules match it by name, so it need not
	// exist yet).
	Outbound string
	// Drop lists other subnets (usually those of the store's other
	// networks) that traffic from this subnet must never be forwarded to.
	// The subnet itself is skipped if it appears. Optional.
	Drop []netip.Prefix
}

// AttachConfig describes one member's interface on a network.
type AttachConfig struct {
	// Bridge is the name of the bridge in the network's namespace (may be
	// left empty for Bridge.Attach).
	Bridge string
	// HostName is the name of the veth end left in the network's
	// namespace and enslaved to the bridge (≤15 bytes, e.g. "v" and 12
	// hex digits of the member's ID). A leftover interface of that name
	// (a member that died before its Detach) is deleted first.
	HostName string
	// IfName is the member's end, e.g. "eth0" (≤15 bytes).
	IfName string
	// MTU of both ends (0: the kernel's default, 1500).
	MTU int
	// Address is the member's address with the subnet's prefix length,
	// e.g. 10.89.0.2/24.
	Address netip.Prefix
	// Gateway is the bridge's address; used only with DefaultRoute.
	Gateway netip.Addr
	// DefaultRoute adds "default via Gateway" in the member (a member on
	// several networks has it on one only; none on internal networks).
	DefaultRoute bool
	// MAC of the member's end; nil: a random locally administered one.
	MAC net.HardwareAddr
}

// checkIfName reports whether name is a usable interface name.
func checkIfName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s interface name is empty", what)
	case len(name) > maxIfName:
		return fmt.Errorf("%s interface name %q is longer than %d bytes", what, name, maxIfName)
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\x00"):
		return fmt.Errorf("%s interface name %q is not valid (no '/', ':' or white space)", what, name)
	}
	return nil
}

func checkMTU(mtu int) error {
	if mtu != 0 && (mtu < 68 || mtu > 65535) {
		return fmt.Errorf("MTU %d is out of range (68 to 65535)", mtu)
	}
	return nil
}

func (c *BridgeConfig) check() error {
	if err := checkIfName("bridge", c.Name); err != nil {
		return err
	}
	if err := checkMTU(c.MTU); err != nil {
		return err
	}
	if !c.Gateway.IsValid() || !c.Gateway.Addr().Is4() {
		return fmt.Errorf("bridge gateway %v is not an IPv4 address with a prefix length", c.Gateway)
	}
	if c.Gateway.Bits() > 30 {
		return fmt.Errorf("subnet of gateway %v is too small for members (/30 at most)", c.Gateway)
	}
	if c.Outbound != "" {
		if err := checkIfName("outbound", c.Outbound); err != nil {
			return err
		}
	}
	for _, p := range c.Drop {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("subnet to drop %v is not an IPv4 prefix", p)
		}
	}
	return nil
}

func (c *AttachConfig) check() error {
	if err := checkIfName("bridge", c.Bridge); err != nil {
		return err
	}
	if err := checkIfName("host-side", c.HostName); err != nil {
		return err
	}
	if err := checkIfName("member", c.IfName); err != nil {
		return err
	}
	if err := checkMTU(c.MTU); err != nil {
		return err
	}
	if !c.Address.IsValid() || !c.Address.Addr().Is4() {
		return fmt.Errorf("member address %v is not an IPv4 address with a prefix length", c.Address)
	}
	if c.DefaultRoute {
		if !c.Gateway.Is4() {
			return fmt.Errorf("gateway %v is not an IPv4 address", c.Gateway)
		}
		if !c.Address.Masked().Contains(c.Gateway) {
			return fmt.Errorf("gateway %v is not in the member's subnet %v", c.Gateway, c.Address.Masked())
		}
	}
	if c.MAC != nil && len(c.MAC) != 6 {
		return fmt.Errorf("MAC %v is not an Ethernet address", c.MAC)
	}
	return nil
}

// ipNet converts a prefix, keeping its address (not masked).
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
