package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	rknet "github.com/rootless-containers/rootlesskit/v3/pkg/network"
	"github.com/rootless-containers/rootlesskit/v3/pkg/network/pasta"
	"github.com/rootless-containers/rootlesskit/v3/pkg/network/slirp4netns"
	"github.com/rootless-containers/rootlesskit/v3/pkg/port"
	"github.com/rootless-containers/rootlesskit/v3/pkg/port/builtin"
	"golang.org/x/sys/unix"

	"usandbox/internal/role"
	"usandbox/internal/wire"
	"usandbox/network/bypass"
	"usandbox/nsexec"
	"usandbox/sandbox/spec"
)

// ErrPortInUse is wrapped when a host port cannot be had.
var ErrPortInUse = errors.New("port is already in use")

// Check finds what the mode needs on the host before anything starts:
// the tool, and a usable /dev/net/tun. The error says how to fix it.
func Check(o Options) error {
	if !o.UserMode() {
		return nil
	}
	if os.Geteuid() == 0 {
		return fmt.Errorf("--network %s is for rootless use (its drivers join the sandbox's user namespace, which real root does not get): use --network none or host", o.Mode)
	}
	pkg := map[string]string{Slirp4netns: "slirp4netns", Pasta: "passt"}[o.Mode]
	if _, err := exec.LookPath(o.Mode); err != nil {
		return fmt.Errorf("--network %s: %s is not installed (sudo apt-get install %s), or use --network none", o.Mode, o.Mode, pkg)
	}
	if o.Bypass {
		if err := bypass.Check(); err != nil {
			return fmt.Errorf("--network %s: %w", o.Mode, err)
		}
	}
	if o.Mode == Slirp4netns {
		f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("--network slirp4netns: cannot open /dev/net/tun (%v): sudo chmod 0666 /dev/net/tun, or use --network none", err)
		}
		f.Close()
	}
	return nil
}

// CheckPorts fails, before any sandbox starts, if a host port is taken,
// and picks free ports for HostPort 0.
func CheckPorts(ports []Port) ([]Port, error) {
	out := make([]Port, len(ports))
	for i, p := range ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		var closer io.Closer
		var got int
		var err error
		if p.Proto == "udp" {
			var c net.PacketConn
			c, err = net.ListenPacket("udp", addr)
			if err == nil {
				closer, got = c, c.LocalAddr().(*net.UDPAddr).Port
			}
		} else {
			var l net.Listener
			l, err = net.Listen("tcp", addr)
			if err == nil {
				closer, got = l, l.Addr().(*net.TCPAddr).Port
			}
		}
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil, fmt.Errorf("publishing %s: %s is not an address of this machine: give one of its addresses, or none (all of them)", p, p.HostIP)
		}
		if err != nil {
			return nil, fmt.Errorf("publishing %s: host %w (%v): pick another host port", p, ErrPortInUse, unwrapSyscall(err))
		}
		closer.Close()
		p.HostPort = got
		out[i] = p
	}
	return out, nil
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// Network is a sandbox's running user-mode network and port forwarders.
type Network struct {
	cfg      spec.NetConfig
	cleanups []func() error
	// bypass: published TCP ports are host sockets the sandbox is given
	// (package bypass), reserved by Publish.
	bypass   bool
	reserved []*bypass.Reservation
	policy   bypass.Policy
}

// Setup starts the network driver for the sandbox whose init is pid (its
// network namespace exists, and its mount namespace still shows the host's
// files: slirp4netns's tap is made with the host's ip). stateDir is for the
// drivers' sockets.
func Setup(o Options, pid int, stateDir string, log io.Writer) (*Network, error) {
	if log == nil {
		log = io.Discard
	}
	var d rknet.ParentDriver
	var err error
	switch o.Mode {
	case Slirp4netns:
		bin, _ := exec.LookPath("slirp4netns")
		// Its own sandbox and seccomp filter, as podman runs it.
		d, err = slirp4netns.NewParentDriver(log, bin, o.MTU, o.CIDR, "tap0", !o.AllowHostLoopback, "", true, true, false)
	case Pasta:
		bin, _ := exec.LookPath("pasta")
		d, err = pasta.NewParentDriver(log, bin, o.MTU, o.CIDR, "tap0", "", !o.AllowHostLoopback, false, false)
	default:
		return nil, fmt.Errorf("no user-mode network for %q", o.Mode)
	}
	if err != nil {
		return nil, fmt.Errorf("--network %s: %w", o.Mode, err)
	}
	msg, cleanup, err := d.ConfigureNetwork(pid, stateDir, "")
	n := &Network{}
	if cleanup != nil {
		n.cleanups = append(n.cleanups, cleanup)
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("--network %s: %w", o.Mode, err)
	}
	if o.Mode == Pasta {
		// pasta forks into the background and the driver's cleanup
		// does not stop it; Debian's pasta (2023-03-09) does not quit
		// when the sandbox's network namespace goes, so every sandbox
		// would leave one running.
		bin, _ := exec.LookPath("pasta")
		stop, err := findPasta(bin, pid)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("--network pasta: %w", err)
		}
		n.cleanups = append(n.cleanups, stop)
	}
	n.cfg = spec.NetConfig{
		Dev: msg.Dev, IP: msg.IP, Netmask: msg.Netmask, Gateway: msg.Gateway, MTU: msg.MTU,
		// pasta configures the interface itself (--config-net).
		Configure: o.Mode == Slirp4netns,
	}
	n.setBypass(o)
	return n, nil
}

// setBypass records the sandbox's network for the bypass handler.
func (n *Network) setBypass(o Options) {
	if !o.Bypass {
		return
	}
	n.bypass = true
	n.policy = BypassPolicy(o, n.cfg, nil)
}

// BypassPolicy is the bypass handler's policy for a sandbox on network
// o, configured as cfg, with its published ports.
func BypassPolicy(o Options, cfg spec.NetConfig, ports []Port) bypass.Policy {
	cidr := o.CIDR
	if cidr == nil {
		cidr = DefaultCIDR
	}
	pol := bypass.Policy{Inside: []*net.IPNet{cidr}, Self: net.ParseIP(cfg.IP), Ports: map[int]bypass.Published{}}
	if ip := net.ParseIP(cfg.IP).To4(); ip != nil && cfg.Netmask > 0 && cfg.Netmask <= 32 {
		m := net.CIDRMask(cfg.Netmask, 32)
		pol.Inside = append(pol.Inside, &net.IPNet{IP: ip.Mask(m), Mask: m})
	}
	pol.Ports = bypassPorts(ports)
	return pol
}

// bypassPorts are the published TCP ports that are host sockets: a
// container port published on two host ports cannot be one host socket,
// and the port driver forwards it.
func bypassPorts(ports []Port) map[int]bypass.Published {
	count := map[int]int{}
	for _, p := range ports {
		if p.Proto == "tcp" {
			count[p.Container]++
		}
	}
	out := map[int]bypass.Published{}
	for _, p := range ports {
		if p.Proto == "tcp" && count[p.Container] == 1 {
			out[p.Container] = bypass.Published{Container: p.Container, HostIP: net.ParseIP(p.HostIP), HostPort: p.HostPort}
		}
	}
	return out
}

// Bypass says whether the sandbox's network is bypassed; if so, it
// returns the handler's policy and hands over the reservations of the
// published TCP ports (the handler releases them).
func (n *Network) Bypass() (bool, bypass.Policy, []*bypass.Reservation) {
	rs := n.reserved
	n.reserved = nil
	return n.bypass, n.policy, rs
}

// Config is what the sandbox's init sets on its interface.
func (n *Network) Config() spec.NetConfig { return n.cfg }

// Publish forwards the host ports to the sandbox whose init is pid with
// rootlesskit's builtin port driver: its parent side listens here, its
// child side runs in a helper in the sandbox's user and network namespaces
// (but the host's mount namespace, so that it finds the host's nft or
// iptables to keep the client's source address for TCP).
func (n *Network) Publish(ports []Port, pid int, stateDir string, log io.Writer) error {
	if n.bypass {
		// TCP ports are host sockets the sandbox is given when it
		// binds them; UDP (and a TCP port published twice) goes
		// through the port driver.
		n.policy.Ports = bypassPorts(ports)
		var tcp []bypass.Published
		var driven []Port
		for _, p := range ports {
			if pub, ok := n.policy.Ports[p.Container]; ok && p.Proto == "tcp" {
				tcp = append(tcp, pub)
			} else {
				driven = append(driven, p)
			}
		}
		rs, err := bypass.Reserve(tcp)
		if err != nil {
			return err
		}
		n.reserved = rs
		n.cleanups = append(n.cleanups, func() error { bypass.CloseReservations(n.reserved); n.reserved = nil; return nil })
		ports = driven
	}
	if len(ports) == 0 {
		return nil
	}
	if log == nil {
		log = io.Discard
	}
	pd, err := builtin.NewParentDriver(log, stateDir, true, "auto")
	if err != nil {
		return fmt.Errorf("port driver: %w", err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("port driver: the sandbox's init: %w", err)
	}
	join := os.NewFile(uintptr(pidfd), "pidfd")
	defer join.Close()
	child, err := nsexec.Start(nsexec.Config{
		Role:   role.PortChild,
		Args:   []string{"usandbox-ports"},
		Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Flags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNET,
		Join:   join,
		Stderr: log,
	})
	if err != nil {
		return fmt.Errorf("port driver: %w", err)
	}
	n.cleanups = append(n.cleanups, func() error {
		child.Signal(unix.SIGKILL)
		child.Wait()
		return nil
	})
	if err := wire.Send(child.Conn, pd.OpaqueForChild()); err != nil {
		return fmt.Errorf("port driver: %w", err)
	}
	quit := make(chan struct{})
	n.cleanups = append(n.cleanups, func() error { close(quit); return nil })
	ready := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() { errc <- pd.RunParentDriver(ready, quit, nil) }()
	select {
	case <-ready:
	case err := <-errc:
		return fmt.Errorf("port driver: %w", err)
	case <-time.After(10 * time.Second):
		return errors.New("port driver: the helper in the sandbox did not answer")
	}
	for _, p := range ports {
		st, err := pd.AddPort(context.Background(), port.Spec{
			Proto: p.Proto, ParentIP: p.HostIP, ParentPort: p.HostPort, ChildPort: p.Container,
		})
		if err != nil {
			return fmt.Errorf("publishing %s: %w", p, err)
		}
		// The driver's quit does not close its listeners: without this
		// the host port stays taken until this process exits (a
		// restart by the same monitor found it in use).
		n.cleanups = append(n.cleanups, func() error {
			if err := pd.RemovePort(context.Background(), st.ID); err != nil {
				return fmt.Errorf("unpublishing %s: %w", p, err)
			}
			return nil
		})
	}
	return nil
}

// Close stops the driver processes, last started first.
func (n *Network) Close() error {
	var errs []error
	for i := len(n.cleanups) - 1; i >= 0; i-- {
		errs = append(errs, n.cleanups[i]())
	}
	n.cleanups = nil
	return errors.Join(errs...)
}

// findPasta finds the background pasta serving the sandbox whose init is
// pid, as the driver ran it: our uid, argv[0] the binary, the init's pid
// the last argument (pasta makes itself undumpable, so its exe link cannot
// be read). It returns a function that stops it; a pidfd keeps that from
// signalling a reused pid.
func findPasta(bin string, pid int) (func() error, error) {
	want := strconv.Itoa(pid)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // gone meanwhile
		}
		argv := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(argv) < 2 || argv[0] != bin || argv[len(argv)-1] != want {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name(), &st) != nil || int(st.Uid) != os.Getuid() {
			continue
		}
		fd, err := unix.PidfdOpen(p, 0)
		if err != nil {
			continue
		}
		// Still the same process, not a new one under the same pid?
		if again, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err != nil || string(again) != string(b) {
			unix.Close(fd)
			continue
		}
		return func() error {
			defer unix.Close(fd)
			return stopPidfd(fd, "pasta")
		}, nil
	}
	return nil, errors.New("its background process was not found")
}

// stopPidfd sends SIGTERM, then SIGKILL, each with a second to exit.
func stopPidfd(fd int, name string) error {
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			return fmt.Errorf("stopping %s: %w", name, err)
		}
		// A pidfd becomes readable when its process exits.
		deadline := time.Now().Add(time.Second)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("stopping %s: %w", name, err)
			}
			if n > 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("stopping %s: it did not exit after SIGKILL", name)
}
