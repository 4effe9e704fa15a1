package netconf

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
)

// validName is docker's and podman's rule for network names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckName refuses a name that is not a network name (podman's words).
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("network name %s invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: %w", name, ErrInvalid)
	}
	return nil
}

// slirpSubnet is the user-mode stack's subnet inside every network's
// namespace (network.DefaultCIDR): no network may overlap it.
var slirpSubnet = ipv4Net{ip: 10<<24 | 2<<8, bits: 24}

// ipv4Net is an IPv4 network: its first address and prefix length
// (bits 0: none).
type ipv4Net struct {
	ip   uint32
	bits int
}

func (n ipv4Net) size() uint64 { return 1 << (32 - n.bits) }

// nth is the network's n-th address (0: the network address).
func (n ipv4Net) nth(i uint32) net.IP { return u32IP(n.ip + i) }

func (n ipv4Net) String() string { return fmt.Sprintf("%s/%d", u32IP(n.ip), n.bits) }

func (n ipv4Net) contains(ip uint32) bool {
	return ip >= n.ip && uint64(ip-n.ip) < n.size()
}

// overlaps: two CIDR networks overlap iff one holds the other's first
// address.
func (n ipv4Net) overlaps(o ipv4Net) bool { return n.contains(o.ip) || o.contains(n.ip) }

func u32IP(v uint32) net.IP { return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)) }

func ipU32(ip net.IP) (uint32, bool) {
	v4 := ip.To4()
	if v4 == nil {
		return 0, false
	}
	return uint32(v4[0])<<24 | uint32(v4[1])<<16 | uint32(v4[2])<<8 | uint32(v4[3]), true
}

// parseSubnet parses an IPv4 CIDR, normalized to its network address.
func parseSubnet(s string) (ipv4Net, error) {
	_, ipn, err := net.ParseCIDR(s)
	if err != nil {
		return ipv4Net{}, err
	}
	ip, ok := ipU32(ipn.IP)
	ones, total := ipn.Mask.Size()
	if !ok || total != 32 {
		return ipv4Net{}, fmt.Errorf("not IPv4")
	}
	return ipv4Net{ip: ip, bits: ones}, nil
}

// reserved are the ranges a network's subnet may not overlap: a member's
// address there means something else to every IP stack.
var reserved = []struct {
	net  ipv4Net
	what string
}{
	{mustNet("0.0.0.0/8"), "this network"},
	{mustNet("127.0.0.0/8"), "loopback"},
	{mustNet("169.254.0.0/16"), "link-local"},
	{mustNet("224.0.0.0/4"), "multicast"},
	{mustNet("240.0.0.0/4"), "reserved"},
}

func mustNet(s string) ipv4Net {
	n, err := parseSubnet(s)
	if err != nil {
		panic(err)
	}
	return n
}

// checkSubnet parses --subnet: an IPv4 network in CIDR notation with room
// for a gateway and a member (at most /30), overlapping not the user-mode
// stack's 10.0.2.0/24. An address inside the network stands for the
// network (10.89.5.7/24 is 10.89.5.0/24), as podman takes it.
func checkSubnet(s string) (ipv4Net, error) {
	_, ipn, err := net.ParseCIDR(s)
	if err != nil {
		return ipv4Net{}, fmt.Errorf("invalid --subnet %s: want an IPv4 network like 10.89.5.0/24: %w", s, ErrInvalid)
	}
	n, err := parseSubnet(ipn.String())
	if err != nil || len(ipn.Mask) != net.IPv4len {
		return ipv4Net{}, fmt.Errorf("invalid --subnet %s: usandbox's networks are IPv4 only: %w", s, ErrInvalid)
	}
	if n.bits > 30 {
		return ipv4Net{}, fmt.Errorf("invalid --subnet %s: too small for a gateway and a member (at most /30): %w", s, ErrInvalid)
	}
	if n.overlaps(slirpSubnet) {
		return ipv4Net{}, fmt.Errorf("invalid --subnet %s: it overlaps %s, the user-mode network inside every network: choose another: %w", s, slirpSubnet, ErrInvalid)
	}
	for _, r := range reserved {
		if n.overlaps(r.net) {
			return ipv4Net{}, fmt.Errorf("invalid --subnet %s: it overlaps %s (%s): choose a private range such as 10.89.5.0/24: %w", s, r.net, r.what, ErrInvalid)
		}
	}
	return n, nil
}

// parseGateway parses --gateway: an address of subnet, neither its
// network nor its broadcast address.
func parseGateway(s string, subnet ipv4Net) (net.IP, error) {
	ip := net.ParseIP(s)
	v, ok := ipU32(ip)
	if ip == nil || !ok {
		return nil, fmt.Errorf("invalid --gateway %s: want an IPv4 address: %w", s, ErrInvalid)
	}
	if !subnet.contains(v) {
		return nil, fmt.Errorf("gateway %s not in subnet %s: %w", s, subnet, ErrInvalid)
	}
	if v == subnet.ip || uint64(v-subnet.ip) == subnet.size()-1 {
		return nil, fmt.Errorf("invalid --gateway %s: it is the network or broadcast address of %s: %w", s, subnet, ErrInvalid)
	}
	return u32IP(v), nil
}

// poolStart is the first default subnet; the pool goes on by /24 to
// 10.255.255.0/24.
var poolStart = ipv4Net{ip: 10<<24 | 89<<16, bits: 24}

// allocate is the first /24 from 10.89.0.0/24 on that overlaps none of
// taken.
func allocate(taken []ipv4Net) (ipv4Net, error) {
	for c := poolStart; c.ip <= 10<<24|255<<16|255<<8; c.ip += 256 {
		free := !c.overlaps(slirpSubnet)
		for _, t := range taken {
			if c.overlaps(t) {
				free = false
				break
			}
		}
		if free {
			return c, nil
		}
	}
	return ipv4Net{}, fmt.Errorf("no free subnet left in 10.89.0.0-10.255.255.0/24: remove a network or give --subnet: %w", ErrInvalid)
}

// ParseMTU parses -o mtu=N: 1280 (IPv6's minimum) to 65520 (the user-mode
// stack's maximum).
func ParseMTU(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1280 || n > 65520 {
		return 0, fmt.Errorf("invalid -o mtu=%s: the MTU must be 1280..65520: %w", s, ErrInvalid)
	}
	return n, nil
}

// ParseDNS parses --dns: an IP address, or IP:PORT ([IPv6]:PORT), the
// resolver's upstream; normalized (1.1.1.1:053 is 1.1.1.1:53).
func ParseDNS(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap().String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return "", fmt.Errorf("invalid --dns %s: want an IP address or IP:PORT: %w", s, ErrInvalid)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
}
