// Package network gives a sandbox its network: none, host, or user-mode
// networking (slirp4netns or pasta) and published ports through rootlesskit's
// drivers, used as a library; rootlesskit's builtin port driver (which keeps the
// client's TCP source address) serves -p.
package network

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Modes of --network.
const (
	None        = "none"
	Host        = "host"
	Slirp4netns = "slirp4netns"
	Pasta       = "pasta"
	// Bridge: a member of one or more named networks (Options.Networks):
	// a veth on each network's bridge, the network's resolver, the
	// network's one user-mode stack for outbound traffic (package
	// network/holder).
	Bridge = "bridge"
	// Container: the network (and user) namespace of another sandbox
	// (Options.Container), as a pod's members share theirs.
	Container = "container"
)

// DefaultNetwork is the network that --network bridge means (docker's
// "bridge"; podman calls its own "podman").
const DefaultNetwork = "bridge"

// Attach is one network a sandbox is a member of.
type Attach struct {
	// Name is the network's name.
	Name string `json:"name"`
	// Aliases are more names the sandbox answers to on it
	// (--network-alias, network connect --alias), beside its own name and
	// short ID.
	Aliases []string `json:"aliases,omitempty"`
}

// Options is a parsed --network value.
type Options struct {
	Mode              string     `json:"mode"`
	MTU               int        `json:"mtu,omitempty"`
	CIDR              *net.IPNet `json:"cidr,omitempty"`
	AllowHostLoopback bool       `json:"allowHostLoopback,omitempty"`
	// Bypass: TCP to the outside and published TCP ports through host
	// sockets (package network/bypass).
	Bypass bool `json:"bypass,omitempty"`
	// Networks are the named networks of a Bridge sandbox, in order (the
	// first is eth0).
	Networks []Attach `json:"networks,omitempty"`
	// Container is the sandbox whose namespaces a Container sandbox
	// shares (its ID).
	Container string `json:"container,omitempty"`
}

// UserMode reports whether the mode needs a driver (slirp4netns or pasta).
func (o Options) UserMode() bool { return o.Mode == Slirp4netns || o.Mode == Pasta }

// DefaultCIDR is the sandbox's network unless cidr= says otherwise: the
// sandbox is .100, the gateway .2, the DNS forwarder .3.
var DefaultCIDR = mustCIDR("10.0.2.0/24")

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// ParseNetworks parses the --network values of one sandbox: one mode
// (ParseNetwork), or the names of one or more networks, on each of which
// the sandbox answers to aliases too (--network-alias).
func ParseNetworks(values, aliases []string) (Options, error) {
	if len(values) == 0 {
		return Options{}, fmt.Errorf("no --network given")
	}
	for _, a := range aliases {
		if err := CheckAlias(a); err != nil {
			return Options{}, err
		}
	}
	var o Options
	for _, v := range values {
		one, err := ParseNetwork(v)
		if err != nil {
			return o, err
		}
		if one.Mode != Bridge {
			if len(values) > 1 {
				return o, fmt.Errorf("--network %s cannot be combined with other networks: give it alone", v)
			}
			if len(aliases) > 0 {
				return one, fmt.Errorf("--network-alias is only for a sandbox on a network (--network NAME), not --network %s", v)
			}
			return one, nil
		}
		if o.Mode == "" {
			o = one
			o.Networks = nil
		}
		for _, a := range o.Networks {
			if a.Name == one.Networks[0].Name {
				return o, fmt.Errorf("--network %s is given twice", v)
			}
		}
		o.Networks = append(o.Networks, Attach{Name: one.Networks[0].Name, Aliases: aliases})
	}
	return o, nil
}

// validAlias is a DNS name: labels of letters, digits, '-' and '_',
// joined by single dots.
var validAlias = regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*$`)

// CheckAlias refuses a --network-alias (or network connect --alias) that
// the network's resolver could not answer to.
func CheckAlias(a string) error {
	if len(a) > 253 || !validAlias.MatchString(a) {
		return fmt.Errorf("invalid network alias %q: use a DNS name (letters, digits, '-', '_', dots between labels)", a)
	}
	for _, l := range strings.Split(a, ".") {
		if len(l) > 63 {
			return fmt.Errorf("invalid network alias %q: a label is longer than 63 characters", a)
		}
	}
	return nil
}

// validNetName is podman's rule for network names (and docker's).
var validNetName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ParseNetwork parses "none", "host", "slirp4netns[:OPT=V,…]", "pasta[:…]"
// with options mtu=N, cidr=A.B.C.D/N, allow_host_loopback=true|false,
// bypass=true|false,
// "container:NAME", or the name of a network ("bridge" is the default
// network's).
func ParseNetwork(s string) (Options, error) {
	mode, opts, _ := strings.Cut(s, ":")
	o := Options{Mode: mode, MTU: 65520, CIDR: DefaultCIDR}
	switch mode {
	case Container:
		if opts == "" {
			return o, fmt.Errorf("--network container: needs the name of a running sandbox (container:NAME)")
		}
		return Options{Mode: Container, Container: opts}, nil
	case None, Host:
		if opts != "" {
			return o, fmt.Errorf("--network %s takes no options", mode)
		}
		return o, nil
	case Slirp4netns, Pasta:
	default:
		if opts != "" || !validNetName.MatchString(s) {
			return o, fmt.Errorf("unknown --network %q: use the name of a network, bridge, slirp4netns, pasta, container:NAME, none or host", s)
		}
		return Options{Mode: Bridge, Networks: []Attach{{Name: s}}}, nil
	}
	if opts == "" {
		return o, nil
	}
	for _, kv := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return o, fmt.Errorf("--network %s: option %q needs a value (KEY=VALUE)", mode, kv)
		}
		switch k {
		case "mtu":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1280 || n > 65520 {
				return o, fmt.Errorf("--network %s: mtu must be 1280..65520, not %q", mode, v)
			}
			o.MTU = n
		case "cidr":
			ip, n, err := net.ParseCIDR(v)
			if err != nil || ip.To4() == nil {
				return o, fmt.Errorf("--network %s: cidr must be an IPv4 network like 10.0.3.0/24, not %q", mode, v)
			}
			if ones, _ := n.Mask.Size(); ones > 25 {
				return o, fmt.Errorf("--network %s: cidr %s is too small (at most /25)", mode, v)
			}
			o.CIDR = n
		case "allow_host_loopback":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, fmt.Errorf("--network %s: allow_host_loopback must be true or false", mode)
			}
			o.AllowHostLoopback = b
		case "bypass":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, fmt.Errorf("--network %s: bypass must be true or false", mode)
			}
			o.Bypass = b
		default:
			return o, fmt.Errorf("--network %s: unknown option %q (mtu, cidr, allow_host_loopback, bypass)", mode, k)
		}
	}
	return o, nil
}

// Addr returns the n-th address of the network (n=100: the sandbox).
func (o Options) Addr(n int) net.IP {
	ip := o.CIDR.IP.To4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(n)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Port is one -p.
type Port struct {
	Proto     string `json:"proto"` // tcp or udp
	HostIP    string `json:"hostIP,omitempty"`
	HostPort  int    `json:"hostPort"` // 0: pick a free one
	Container int    `json:"containerPort"`
}

func (p Port) String() string {
	host := p.HostIP
	if host == "" {
		host = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d->%d/%s", host, p.HostPort, p.Container, p.Proto)
}

// ParsePort parses -p [hostIP:][hostPort:]containerPort[/tcp|/udp].
func ParsePort(s string) (Port, error) {
	p := Port{Proto: "tcp"}
	spec := s
	if i := strings.LastIndex(spec, "/"); i >= 0 {
		p.Proto = spec[i+1:]
		spec = spec[:i]
		if p.Proto != "tcp" && p.Proto != "udp" {
			return p, fmt.Errorf("invalid -p %q: protocol must be tcp or udp", s)
		}
	}
	var parts []string
	if strings.HasPrefix(spec, "[") { // [::1]:8080:80
		end := strings.Index(spec, "]")
		if end < 0 {
			return p, fmt.Errorf("invalid -p %q", s)
		}
		parts = append([]string{spec[1:end]}, strings.Split(strings.TrimPrefix(spec[end+1:], ":"), ":")...)
	} else {
		parts = strings.Split(spec, ":")
	}
	port := func(v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return 0, fmt.Errorf("invalid -p %q: %q is not a port (1-65535)", s, v)
		}
		return n, nil
	}
	var err error
	switch len(parts) {
	case 1:
		p.Container, err = port(parts[0])
	case 2:
		if p.HostPort, err = port(parts[0]); err == nil {
			p.Container, err = port(parts[1])
		}
	case 3:
		p.HostIP = parts[0]
		if net.ParseIP(p.HostIP) == nil {
			return p, fmt.Errorf("invalid -p %q: %q is not an IP address", s, p.HostIP)
		}
		if parts[1] != "" {
			p.HostPort, err = port(parts[1])
		}
		if err == nil {
			p.Container, err = port(parts[2])
		}
	default:
		return p, fmt.Errorf("invalid -p %q: use [HOST-IP:][HOST-PORT:]CONTAINER-PORT[/PROTO]", s)
	}
	return p, err
}
