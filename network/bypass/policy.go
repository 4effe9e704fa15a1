package bypass

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// Published is a published TCP port: the sandbox's port and the host's
// address it is published on.
type Published struct {
	Container int
	HostIP    net.IP // nil or unspecified: every address of the host
	HostPort  int
}

// Policy is what the handler decides with.
type Policy struct {
	// Inside are the sandbox's networks: destinations in them stay on
	// the user-mode stack (its gateway, its DNS forwarder).
	Inside []*net.IPNet
	// Self is the sandbox's address on its network.
	Self net.IP
	// Ports are the published TCP ports that are host sockets, by
	// container port (each published once).
	Ports map[int]Published
}

// Route is where a connection goes.
type Route int

const (
	// Stay: on the sandbox's socket, in its network namespace.
	Stay Route = iota
	// Host: through a host socket to the same destination.
	Host
	// Own: to the sandbox's own published port, which listens on the
	// host: through a host socket to the published address.
	Own
)

// Route decides a TCP connection to ip:port. Only IPv4 (and IPv4-mapped
// IPv6) leaves: the user-mode stacks give the sandbox no IPv6 outside.
func (p *Policy) Route(ip net.IP, port int) Route {
	v4 := ip.To4()
	if v4 == nil {
		return Stay
	}
	if _, ok := p.Ports[port]; ok && (v4[0] == 127 || v4.IsUnspecified() || v4.Equal(p.Self)) {
		return Own
	}
	switch {
	case v4[0] == 0, v4[0] == 127, // this host: the sandbox's own
		v4.IsMulticast(), v4[0] >= 240: // and reserved, broadcast
		return Stay
	}
	for _, n := range p.Inside {
		if n.Contains(v4) {
			return Stay
		}
	}
	return Host
}

// OwnTarget is where a connection to the sandbox's own published port
// goes on the host: its published address, the host's loopback for
// every address.
func (p *Policy) OwnTarget(port int) (net.IP, int) {
	pub := p.Ports[port]
	ip := pub.HostIP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return ip, pub.HostPort
}

// parseAddr reads an AF_INET or AF_INET6 socket address (raw, as the
// sandbox passed it).
func parseAddr(b []byte) (family int, ip net.IP, port int, ok bool) {
	if len(b) < 2 {
		return 0, nil, 0, false
	}
	family = int(binary.LittleEndian.Uint16(b))
	switch family {
	case unix.AF_INET:
		if len(b) < unix.SizeofSockaddrInet4 {
			return family, nil, 0, false
		}
		return family, net.IP(append([]byte(nil), b[4:8]...)), int(binary.BigEndian.Uint16(b[2:4])), true
	case unix.AF_INET6:
		if len(b) < 24 { // SIN6_LEN_RFC2133: without the scope
			return family, nil, 0, false
		}
		return family, net.IP(append([]byte(nil), b[8:24]...)), int(binary.BigEndian.Uint16(b[2:4])), true
	}
	return family, nil, 0, false
}

// sockaddr is ip:port for a socket of domain (v4-mapped for AF_INET6).
func sockaddr(domain int, ip net.IP, port int) unix.Sockaddr {
	if domain == unix.AF_INET6 {
		sa := &unix.SockaddrInet6{Port: port}
		copy(sa.Addr[:], ip.To16())
		return sa
	}
	sa := &unix.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip.To4())
	return sa
}
