package link

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// newNS makes a network namespace for a test, or skips the test where the
// host does not let this process make one.
func newNS(t testing.TB) *os.File {
	t.Helper()
	ns, err := NewNetNS()
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) {
		t.Skipf("cannot make a network namespace (needs CAP_SYS_ADMIN over this user namespace: run as root, or inside unshare -Urn): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func handle(t testing.TB, ns *os.File) *netlink.Handle {
	t.Helper()
	h, err := handleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func sysctlIn(t *testing.T, ns *os.File, path string) string {
	t.Helper()
	var v []byte
	if err := Do(ns, func() (err error) { v, err = os.ReadFile(path); return err }); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

var (
	gw     = netip.MustParsePrefix("10.89.0.1/24")
	other  = netip.MustParsePrefix("10.89.1.0/24")
	bridge = BridgeConfig{Name: "usb0", MTU: 65520, Gateway: gw, Drop: []netip.Prefix{gw.Masked(), other}}
)

func attachCfg(host, ip string) AttachConfig {
	return AttachConfig{Bridge: "usb0", HostName: host, IfName: "eth0", MTU: 65520,
		Address: netip.MustParsePrefix(ip + "/24"), Gateway: gw.Addr(), DefaultRoute: true}
}

func TestNewNetNSAndDo(t *testing.T) {
	ns := newNS(t)
	var st1, st2 unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &st1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &st2); err != nil {
		t.Fatal(err)
	}
	if st1.Ino == st2.Ino {
		t.Fatal("NewNetNS returned the caller's own network namespace")
	}
	var inside unix.Stat_t
	if err := Do(ns, func() error { return unix.Stat("/proc/thread-self/ns/net", &inside) }); err != nil {
		t.Fatal(err)
	}
	if inside.Ino != st1.Ino {
		t.Fatalf("Do ran in netns inode %d, want %d", inside.Ino, st1.Ino)
	}
	var after unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != st2.Ino {
		t.Fatal("the caller's thread was left in another network namespace")
	}
	lo, err := handle(t, ns).LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Attrs().RawFlags&unix.IFF_UP == 0 {
		t.Fatal("lo is not up in the new namespace")
	}
	want := errors.New("from fn")
	if err := Do(ns, func() error { return want }); err != want {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
}

func TestBridgeAttachDetach(t *testing.T) {
	brNS := newNS(t)
	if err := SetupBridge(brNS, bridge); err != nil {
		t.Fatal(err)
	}
	// Again: it converges rather than failing on what exists.
	if err := SetupBridge(brNS, bridge); err != nil {
		t.Fatalf("second SetupBridge: %v", err)
	}
	a, b := newNS(t), newNS(t)
	macA, err := Attach(brNS, a, attachCfg("vaaaaaaaaaaaa", "10.89.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(brNS, b, attachCfg("vbbbbbbbbbbbb", "10.89.0.3")); err != nil {
		t.Fatal(err)
	}

	// The /proc/sys/net files are the opener's netns's.
	if v := sysctlIn(t, brNS, "/proc/sys/net/ipv4/ip_forward"); v != "1" {
		t.Errorf("ip_forward in the network's namespace = %s, want 1", v)
	}
	if v := sysctlIn(t, a, "/proc/sys/net/ipv4/ip_forward"); v != "0" {
		t.Errorf("ip_forward in a member = %s, want 0 (SetupBridge wrote another namespace's)", v)
	}

	ha := handle(t, a)
	eth0, err := ha.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(eth0.Attrs().HardwareAddr, macA) {
		t.Errorf("member's eth0 MAC %v, Attach returned %v", eth0.Attrs().HardwareAddr, macA)
	}
	if eth0.Attrs().MTU != 65520 {
		t.Errorf("member's eth0 MTU %d, want 65520", eth0.Attrs().MTU)
	}
	if !hasDefaultRoute(t, ha, gw.Addr()) {
		t.Error("member has no default route via the gateway")
	}
	hb := handle(t, brNS)
	host, err := hb.LinkByName("vaaaaaaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	br, _ := hb.LinkByName("usb0")
	if host.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("host end's master is %d, want the bridge %d", host.Attrs().MasterIndex, br.Attrs().Index)
	}

	// A reaches B's listener over the bridge, and B sees A's address.
	var ln net.Listener
	if err := Do(b, func() (err error) { ln, err = net.Listen("tcp4", "10.89.0.3:8080"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "you are %s\n", c.RemoteAddr().(*net.TCPAddr).IP)
		c.Close()
	}()
	var c net.Conn
	err = Do(a, func() (err error) {
		c, err = net.DialTimeout("tcp4", "10.89.0.3:8080", 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("member A cannot connect to member B: %v", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if line != "you are 10.89.0.2\n" {
		t.Errorf("B answered %q, want it to see A as 10.89.0.2", line)
	}

	// The table, listed back.
	chains, rules := listRules(t, brNS)
	if got := chains["forward"]; got == nil || *got.Policy != nftables.ChainPolicyDrop {
		t.Errorf("no forward chain with policy drop: %+v", got)
	}
	if !hasMasq(rules["postrouting"], gw.Masked(), DefaultOutbound) {
		t.Errorf("no masquerade of %v out of %s in postrouting: %v", gw.Masked(), DefaultOutbound, rules["postrouting"])
	}
	if n := len(rules["forward"]); n != 4 {
		t.Errorf("forward has %d rules, want 4 (drop to %v, bridged, out, established back)", n, other)
	}

	// Detach removes both ends; twice is fine.
	if err := Detach(brNS, "vaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	if _, err := hb.LinkByName("vaaaaaaaaaaaa"); err == nil {
		t.Error("host end still there after Detach")
	}
	if _, err := ha.LinkByName("eth0"); err == nil {
		t.Error("member's end still there after Detach")
	}
	if err := Detach(brNS, "vaaaaaaaaaaaa"); err != nil {
		t.Errorf("second Detach: %v", err)
	}
}

func TestAttachClashes(t *testing.T) {
	brNS := newNS(t)
	if err := SetupBridge(brNS, BridgeConfig{Name: "usb0", Gateway: gw, Internal: true}); err != nil {
		t.Fatal(err)
	}
	a, b := newNS(t), newNS(t)
	if _, err := Attach(brNS, a, attachCfg("vleftover", "10.89.0.2")); err != nil {
		t.Fatal(err)
	}
	// The same host name again (a member that died before its Detach):
	// the leftover goes, the new member gets its link.
	if _, err := Attach(brNS, b, attachCfg("vleftover", "10.89.0.3")); err != nil {
		t.Fatalf("attach over a leftover host end: %v", err)
	}
	if _, err := handle(t, b).LinkByName("eth0"); err != nil {
		t.Fatal(err)
	}
	if _, err := handle(t, a).LinkByName("eth0"); err == nil {
		t.Error("the leftover's peer survived")
	}
	// The member's name taken: an error, and no host end left behind.
	_, err := Attach(brNS, b, attachCfg("vsecond", "10.89.0.4"))
	if err == nil || !strings.Contains(err.Error(), "eth0") {
		t.Fatalf("attach of a second eth0: %v, want an error naming eth0", err)
	}
	if _, err := handle(t, brNS).LinkByName("vsecond"); err == nil {
		t.Error("a failed Attach left its host end")
	}
}

// A member's network namespace going away takes the veth with it: the
// holder need not Detach a member that exited.
func TestMemberGoneDeletesLink(t *testing.T) {
	brNS := newNS(t)
	if err := SetupBridge(brNS, BridgeConfig{Name: "usb0", Gateway: gw, Internal: true}); err != nil {
		t.Fatal(err)
	}
	br, err := OpenBridge(brNS, "usb0")
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	m, err := NewNetNS()
	if err != nil {
		t.Skipf("cannot make a network namespace: %v", err)
	}
	if _, err := br.Attach(m, attachCfg("vgone", "10.89.0.2")); err != nil {
		m.Close()
		t.Fatal(err)
	}
	m.Close()
	h := handle(t, brNS)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := h.LinkByName("vgone"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("host end still there 5 s after the member's namespace was closed")
		}
	}
	if err := br.Detach("vgone"); err != nil {
		t.Errorf("Detach of a gone link: %v", err)
	}
}

func TestInternal(t *testing.T) {
	brNS := newNS(t)
	if err := SetupBridge(brNS, BridgeConfig{Name: "usb0", MTU: 65520, Gateway: gw, Internal: true}); err != nil {
		t.Fatal(err)
	}
	m := newNS(t)
	cfg := attachCfg("vinternal", "10.89.0.2")
	cfg.DefaultRoute = false
	if _, err := Attach(brNS, m, cfg); err != nil {
		t.Fatal(err)
	}
	if hasDefaultRoute(t, handle(t, m), gw.Addr()) {
		t.Error("member of an internal network has a default route")
	}
	if v := sysctlIn(t, brNS, "/proc/sys/net/ipv4/ip_forward"); v != "0" {
		t.Errorf("ip_forward = %s in an internal network's namespace, want 0", v)
	}
	chains, rules := listRules(t, brNS)
	if _, ok := chains["postrouting"]; ok {
		t.Error("internal network has a nat chain")
	}
	if got := chains["forward"]; got == nil || *got.Policy != nftables.ChainPolicyDrop {
		t.Errorf("no forward chain with policy drop: %+v", got)
	}
	if n := len(rules["forward"]); n != 1 {
		t.Errorf("forward has %d rules, want 1 (bridged only)", n)
	}
}

func hasDefaultRoute(t *testing.T, h *netlink.Handle, via netip.Addr) bool {
	t.Helper()
	rs, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.Equal(via.AsSlice()) {
			return true
		}
	}
	return false
}

func listRules(t *testing.T, ns *os.File) (map[string]*nftables.Chain, map[string][]*nftables.Rule) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	tab := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	cs, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	chains := map[string]*nftables.Chain{}
	rules := map[string][]*nftables.Rule{}
	for _, ch := range cs {
		if ch.Table.Name != TableName {
			continue
		}
		chains[ch.Name] = ch
		rs, err := c.GetRules(tab, ch)
		if err != nil {
			t.Fatal(err)
		}
		rules[ch.Name] = rs
	}
	return chains, rules
}

// hasMasq finds a rule that compares against subnet's address and
// outbound's name and masquerades.
func hasMasq(rules []*nftables.Rule, subnet netip.Prefix, outbound string) bool {
	a := subnet.Addr().As4()
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, outbound)
	for _, r := range rules {
		var addr, oif, masq bool
		for _, e := range r.Exprs {
			switch e := e.(type) {
			case *expr.Cmp:
				addr = addr || bytes.Equal(e.Data, a[:])
				oif = oif || bytes.Equal(e.Data, name)
			case *expr.Masq:
				masq = true
			}
		}
		if addr && oif && masq {
			return true
		}
	}
	return false
}

// BenchmarkAttach is one member's attach and detach through the exported
// calls (each opens its netlink sockets in both namespaces); it reports
// the two halves apart, since detach is the kernel's RCU wait.
func BenchmarkAttach(b *testing.B) {
	brNS := newNS(b)
	if err := SetupBridge(brNS, bridge); err != nil {
		b.Fatal(err)
	}
	m := newNS(b)
	benchAttach(b, func(cfg AttachConfig) error { _, err := Attach(brNS, m, cfg); return err },
		func(host string) error { return Detach(brNS, host) })
}

// BenchmarkBridgeAttach is the same through a kept Bridge, as the holder
// does it.
func BenchmarkBridgeAttach(b *testing.B) {
	brNS := newNS(b)
	if err := SetupBridge(brNS, bridge); err != nil {
		b.Fatal(err)
	}
	br, err := OpenBridge(brNS, bridge.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	m := newNS(b)
	benchAttach(b, func(cfg AttachConfig) error { _, err := br.Attach(m, cfg); return err }, br.Detach)
}

func benchAttach(b *testing.B, attach func(AttachConfig) error, detach func(string) error) {
	cfg := attachCfg("vbench", "10.89.0.2")
	var at, dt time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if err := attach(cfg); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := detach(cfg.HostName); err != nil {
			b.Fatal(err)
		}
		at += t1.Sub(t0)
		dt += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(at.Nanoseconds())/float64(n), "attach-ns/op")
	b.ReportMetric(float64(dt.Nanoseconds())/float64(n), "detach-ns/op")
}

// TestDialer: a connection made by a Dialer is the namespace's: it
// reaches a listener that exists only there.
func TestDialer(t *testing.T) {
	ns := newNS(t)
	var ln net.Listener
	if err := Do(ns, func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("inside"))
			c.Close()
		}
	}()
	d, err := NewDialer(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dialing the namespace's listener: %v", err)
	}
	defer c.Close()
	b, _ := io.ReadAll(c)
	if string(b) != "inside" {
		t.Fatalf("read %q", b)
	}
	// The same address from this process's own namespace has no listener.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the listener is reachable outside its namespace: the test proves nothing")
	}
}

// TestGuardSpoofing: a member that takes another address (or another
// MAC) gets nothing through the bridge; with its own it does.
func TestGuardSpoofing(t *testing.T) {
	brNS := newNS(t)
	if err := SetupBridge(brNS, bridge); err != nil {
		t.Fatal(err)
	}
	br, err := OpenBridge(brNS, "usb0")
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	a, b := newNS(t), newNS(t)
	if _, err := br.Attach(a, attachCfg("vaaaaaaaaaaaa", "10.89.0.2")); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Attach(b, attachCfg("vbbbbbbbbbbbb", "10.89.0.3")); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := Do(b, func() (err error) { ln, err = net.Listen("tcp4", "10.89.0.3:8080"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// A new port may lose the first ARP (the 1 s retry): the legitimate
	// dials wait longer than the spoofing ones, which must fail anyway.
	dialFor := func(src string, d time.Duration) error {
		return Do(a, func() error {
			d := net.Dialer{Timeout: d, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			c, err := d.Dial("tcp4", "10.89.0.3:8080")
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	dial := func(src string) error { return dialFor(src, time.Second) }
	if err := dialFor("10.89.0.2", 5*time.Second); err != nil {
		t.Fatalf("from its own address: %v", err)
	}
	// Another address of the subnet (the gateway's, another member's):
	// the guard drops its ARP and its packets.
	ha := handle(t, a)
	eth0, err := ha.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, spoof := range []string{"10.89.0.99", "10.89.0.1"} {
		addr, _ := netlink.ParseAddr(spoof + "/32")
		if err := ha.AddrAdd(eth0, addr); err != nil {
			t.Fatal(err)
		}
		if err := dial(spoof); err == nil {
			t.Errorf("a member spoofing %s reached another member", spoof)
		}
		ha.AddrDel(eth0, addr)
	}
	// Another MAC.
	if err := ha.LinkSetHardwareAddr(eth0, net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x01}); err != nil {
		t.Fatal(err)
	}
	if err := dial("10.89.0.2"); err == nil {
		t.Error("a member with another MAC reached another member")
	}
	// Detach takes the port's rules away.
	if err := br.Detach("vaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	rules, err := br.guard.c.GetRules(br.guard.table, br.guard.chain)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if string(r.UserData) == "vaaaaaaaaaaaa" {
			t.Fatal("a detached port's guard rules are left")
		}
	}
}
