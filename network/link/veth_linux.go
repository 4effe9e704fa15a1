package link

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Bridge is a netlink connection into a network's namespace, bound to
// its bridge: the holder opens one per network and keeps it for the
// network's life, so that each Attach and Detach does not open a socket
// there (about 0.13 ms each) nor look the bridge up again. It is safe for
// concurrent use.
type Bridge struct {
	h     *netlink.Handle
	name  string
	index int
	guard *guard
}

// OpenBridge opens a Bridge on the bridge called name (made by
// SetupBridge) in the network namespace ns. ns may be closed afterwards:
// the connection keeps the namespace alive until Close.
func OpenBridge(ns *os.File, name string) (*Bridge, error) {
	if err := checkIfName("bridge", name); err != nil {
		return nil, err
	}
	if ns == nil {
		return nil, errors.New("no network namespace given")
	}
	h, err := handleAt(ns)
	if err != nil {
		return nil, err
	}
	br, err := h.LinkByName(name)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("finding bridge %s: %w", name, err)
	}
	g, err := openGuard(ns)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Bridge{h: h, name: name, index: br.Attrs().Index, guard: g}, nil
}

// Close closes the connection.
func (b *Bridge) Close() {
	b.guard.close()
	b.h.Close()
}

// Attach plugs a member into a network: a veth pair whose end
// cfg.HostName is made in bridgeNS, enslaved to cfg.Bridge and up, and
// whose peer is made directly in memberNS (never moved there) as
// cfg.IfName, with cfg.Address, up, lo up, and a default route via
// cfg.Gateway if cfg.DefaultRoute. It returns the MAC of the member's
// end. On an error nothing is left behind in either namespace. It is
// OpenBridge, Bridge.Attach and Close; a holder that attaches more than
// once keeps the Bridge instead.
func Attach(bridgeNS, memberNS *os.File, cfg AttachConfig) (net.HardwareAddr, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	b, err := OpenBridge(bridgeNS, cfg.Bridge)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.Attach(memberNS, cfg)
}

// Attach is the package's Attach on b's namespace and bridge; cfg.Bridge
// may be empty, or must name b's bridge.
func (b *Bridge) Attach(memberNS *os.File, cfg AttachConfig) (net.HardwareAddr, error) {
	if cfg.Bridge == "" {
		cfg.Bridge = b.name
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Bridge != b.name {
		return nil, fmt.Errorf("attach to bridge %s through the connection to bridge %s", cfg.Bridge, b.name)
	}
	if memberNS == nil {
		return nil, errors.New("no member network namespace given")
	}
	mh, err := handleAt(memberNS)
	if err != nil {
		return nil, fmt.Errorf("in the member: %w", err)
	}
	defer mh.Close()
	bh := b.h
	mac := cfg.MAC
	if mac == nil {
		if mac, err = randomMAC(); err != nil {
			return nil, err
		}
	}
	// The port's guard before the port exists: no frame of the member
	// with another's addresses ever reaches the bridge.
	if err := b.guard.allow(cfg.HostName, mac, cfg.Address.Addr()); err != nil {
		return nil, err
	}
	v := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name: cfg.HostName, MTU: cfg.MTU, MasterIndex: b.index,
			Flags: net.FlagUp, TxQLen: -1,
		},
		PeerName: cfg.IfName, PeerMTU: uint32(cfg.MTU), PeerHardwareAddr: mac,
		PeerNamespace: netlink.NsFd(memberNS.Fd()), PeerTxQLen: -1,
	}
	err = bh.LinkAdd(v)
	if errors.Is(err, unix.EEXIST) {
		// The name clash is either a leftover host end (a member that
		// died before its Detach: remove it) or the member's IfName.
		old, lerr := bh.LinkByName(cfg.HostName)
		if lerr != nil {
			_ = b.guard.forget(cfg.HostName) // the error is the one to report
			return nil, fmt.Errorf("interface %s exists in the member's network namespace: %w", cfg.IfName, err)
		}
		if derr := bh.LinkDel(old); derr != nil {
			_ = b.guard.forget(cfg.HostName)
			return nil, fmt.Errorf("deleting leftover interface %s: %w", cfg.HostName, derr)
		}
		err = bh.LinkAdd(v)
	}
	if err != nil {
		_ = b.guard.forget(cfg.HostName) // the error is the one to report
		return nil, fmt.Errorf("creating veth %s (peer %s in the member): %w", cfg.HostName, cfg.IfName, err)
	}
	if err := member(mh, cfg); err != nil {
		// Deleting one end deletes both.
		if derr := bh.LinkDel(v); derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting veth %s again: %w", cfg.HostName, derr))
		}
		_ = b.guard.forget(cfg.HostName)
		return nil, err
	}
	return mac, nil
}

// member configures the member's end of a new veth.
func member(mh *netlink.Handle, cfg AttachConfig) error {
	peer, err := mh.LinkByName(cfg.IfName)
	if err != nil {
		return fmt.Errorf("finding %s in the member: %w", cfg.IfName, err)
	}
	if err := mh.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(cfg.Address)}); err != nil {
		return fmt.Errorf("adding address %v to %s in the member: %w", cfg.Address, cfg.IfName, err)
	}
	if err := mh.LinkSetUp(peer); err != nil {
		return fmt.Errorf("bringing %s up in the member: %w", cfg.IfName, err)
	}
	if err := linkUpByName(mh, "lo"); err != nil {
		return fmt.Errorf("in the member: %w", err)
	}
	if cfg.DefaultRoute {
		r := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: cfg.Gateway.AsSlice()}
		if err := mh.RouteAdd(r); err != nil {
			return fmt.Errorf("adding default route via %v in the member: %w", cfg.Gateway, err)
		}
	}
	return nil
}

// Detach unplugs a member: it deletes the veth end hostName in bridgeNS,
// which takes the member's end with it. An interface that is already gone
// is not an error. It costs about 19 ms, nearly all of it the kernel's
// wait for RCU readers when an interface is unregistered; a member whose
// network namespace goes away (its last process exits) needs no Detach:
// the kernel deletes both ends itself, off the caller's path.
func Detach(bridgeNS *os.File, hostName string) error {
	if err := checkIfName("host-side", hostName); err != nil {
		return err
	}
	h, err := handleAt(bridgeNS)
	if err != nil {
		return err
	}
	defer h.Close()
	return detach(h, hostName)
}

// Detach is the package's Detach on b's namespace; the port's guard goes
// with it.
func (b *Bridge) Detach(hostName string) error {
	if err := checkIfName("host-side", hostName); err != nil {
		return err
	}
	if err := detach(b.h, hostName); err != nil {
		return err
	}
	return b.guard.forget(hostName)
}

func detach(h *netlink.Handle, hostName string) error {
	l, err := h.LinkByName(hostName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("finding %s: %w", hostName, err)
	}
	if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting %s: %w", hostName, err)
	}
	return nil
}
