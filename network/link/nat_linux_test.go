package link

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestMasquerade stands a veth "tap0" in for slirp4netns: its far end is
// an "outside" namespace at 10.0.2.2 that also holds an address in
// another usandbox subnet. A member reaches outside as the network's
// namespace (masqueraded), and never reaches the other subnet.
func TestMasquerade(t *testing.T) {
	brNS, out, m := newNS(t), newNS(t), newNS(t)
	if err := SetupBridge(brNS, bridge); err != nil {
		t.Fatal(err)
	}
	hb, ho := handle(t, brNS), handle(t, out)
	tap := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: DefaultOutbound, TxQLen: -1, Flags: net.FlagUp},
		PeerName: "outside", PeerNamespace: netlink.NsFd(out.Fd()), PeerTxQLen: -1}
	if err := hb.LinkAdd(tap); err != nil {
		t.Fatal(err)
	}
	mustAddr(t, hb, DefaultOutbound, "10.0.2.100/24")
	mustAddr(t, ho, "outside", "10.0.2.2/24")
	mustAddr(t, ho, "outside", "10.89.1.5/24")
	l, _ := hb.LinkByName(DefaultOutbound)
	if err := hb.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP("10.0.2.2")}); err != nil {
		t.Fatal(err)
	}
	o, _ := ho.LinkByName("outside")
	back := &netlink.Route{LinkIndex: o.Attrs().Index, Dst: ipNet(gw.Masked()), Gw: net.ParseIP("10.0.2.100")}
	if err := ho.RouteAdd(back); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(brNS, m, attachCfg("vmasq", "10.89.0.2")); err != nil {
		t.Fatal(err)
	}

	listenIn(t, out, "0.0.0.0:8081")
	if got, err := dialIn(m, "10.0.2.2:8081"); err != nil {
		t.Fatalf("member cannot reach the outside: %v", err)
	} else if got != "you are 10.0.2.100\n" {
		t.Errorf("outside saw %q, want the masqueraded 10.0.2.100", got)
	}
	// The outside's answer is established traffic; a new connection from
	// the outside into the subnet is not.
	listenIn(t, m, "10.89.0.2:8082")
	if _, err := dialIn(out, "10.89.0.2:8082"); err == nil {
		t.Error("the outside opened a connection into the network")
	}
	// Another usandbox subnet is dropped even though a route leads there.
	if _, err := dialIn(m, "10.89.1.5:8081"); err == nil {
		t.Error("member reached another usandbox subnet")
	}
}

func mustAddr(t *testing.T, h *netlink.Handle, name, cidr string) {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(cidr)
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

// listenIn serves "you are ADDR\\n" to every connection, in ns.
func listenIn(t *testing.T, ns *os.File, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := Do(ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "you are %s\n", c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
	return ln
}

// dialIn connects from ns and returns the server's line.
func dialIn(ns *os.File, addr string) (string, error) {
	var c net.Conn
	err := Do(ns, func() (err error) { c, err = net.DialTimeout("tcp4", addr, 500*time.Millisecond); return err })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}
