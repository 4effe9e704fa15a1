package link

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SetupBridge makes the network's bridge in ns (a namespace from
// NewNetNS): the bridge with its MTU, a fixed MAC and the gateway address,
// up; then, unless cfg.Internal, ip_forward=1 in ns. It always loads the
// nftables table "usandbox" (family ip), replacing an older one:
//
//	chain postrouting (nat, srcnat): ip saddr SUBNET oifname OUT masquerade
//	chain forward (filter, policy drop):
//	    ip saddr SUBNET ip daddr DROP drop        one per cfg.Drop
//	    iifname BR oifname BR accept              members, if br_netfilter
//	    iifname BR oifname OUT accept
//	    iifname OUT oifname BR ct state established,related accept
//
// An internal network gets only the forward chain's first two kinds of
// rule. Calling it again on the same namespace converges: an existing
// bridge is reused, the address replaced, the table remade.
func SetupBridge(ns *os.File, cfg BridgeConfig) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.Outbound == "" {
		cfg.Outbound = DefaultOutbound
	}
	h, err := handleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := bridgeUp(h, cfg); err != nil {
		return err
	}
	if !cfg.Internal {
		// /proc/sys/net shows the netns of the thread that opens the file:
		// it must be opened from inside ns.
		err := Do(ns, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0)
		})
		if err != nil {
			return fmt.Errorf("turning on ip_forward in the network's namespace: %w", err)
		}
	}
	if err := loadRules(ns, cfg); err != nil {
		return fmt.Errorf("loading the network's nftables rules: %w", err)
	}
	return nil
}

func bridgeUp(h *netlink.Handle, cfg BridgeConfig) error {
	mac, err := randomMAC()
	if err != nil {
		return err
	}
	// An explicit MAC: otherwise a bridge takes its lowest port's, and
	// its MAC changes as members come and go, leaving stale ARP entries
	// for the gateway in the members.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: cfg.Name, MTU: cfg.MTU, HardwareAddr: mac, TxQLen: -1}}
	if err := h.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("creating bridge %s: %w", cfg.Name, err)
	}
	l, err := h.LinkByName(cfg.Name)
	if err != nil {
		return fmt.Errorf("finding bridge %s: %w", cfg.Name, err)
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return fmt.Errorf("interface %s exists and is a %s, not a bridge", cfg.Name, l.Type())
	}
	if cfg.MTU != 0 && l.Attrs().MTU != cfg.MTU {
		if err := h.LinkSetMTU(l, cfg.MTU); err != nil {
			return fmt.Errorf("setting the MTU of bridge %s: %w", cfg.Name, err)
		}
	}
	if err := h.AddrReplace(l, &netlink.Addr{IPNet: ipNet(cfg.Gateway)}); err != nil {
		return fmt.Errorf("setting the address of bridge %s to %v: %w", cfg.Name, cfg.Gateway, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("bringing bridge %s up: %w", cfg.Name, err)
	}
	return nil
}

// randomMAC is a random unicast, locally administered Ethernet address.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("random MAC: %w", err)
	}
	mac[0] = mac[0]&^0x01 | 0x02
	return mac, nil
}

func loadRules(ns *os.File, cfg BridgeConfig) error {
	// A lasting connection dialled inside ns stays in ns.
	var c *nftables.Conn
	err := Do(ns, func() error {
		var err error
		c, err = nftables.New(nftables.AsLasting())
		return err
	})
	if err != nil {
		return fmt.Errorf("nftables netlink socket: %w", err)
	}
	defer c.CloseLasting()
	// Add, delete, add: one batch that replaces the table whether or not
	// it existed (adding an existing table is not an error).
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	rs := buildRules(t, cfg)
	for _, ch := range rs.chains {
		c.AddChain(ch)
	}
	for _, r := range rs.rules {
		c.AddRule(r)
	}
	return c.Flush()
}

// ruleset is the table's chains and rules, apart from a connection so
// that it can be looked at without privileges.
type ruleset struct {
	chains []*nftables.Chain
	rules  []*nftables.Rule
}

func buildRules(t *nftables.Table, cfg BridgeConfig) ruleset {
	subnet := cfg.Gateway.Masked()
	drop := nftables.ChainPolicyDrop
	accept := nftables.ChainPolicyAccept
	fwd := &nftables.Chain{
		Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop,
	}
	var rs ruleset
	rs.chains = append(rs.chains, fwd)
	add := func(ch *nftables.Chain, e ...[]expr.Any) {
		var all []expr.Any
		for _, x := range e {
			all = append(all, x...)
		}
		rs.rules = append(rs.rules, &nftables.Rule{Table: t, Chain: ch, Exprs: all})
	}
	for _, p := range cfg.Drop {
		p = p.Masked()
		if p == subnet {
			continue
		}
		add(fwd, matchAddr(12, subnet), matchAddr(16, p), verdict(expr.VerdictDrop))
	}
	add(fwd, matchIf(expr.MetaKeyIIFNAME, cfg.Name), matchIf(expr.MetaKeyOIFNAME, cfg.Name), verdict(expr.VerdictAccept))
	if cfg.Internal {
		return rs
	}
	add(fwd, matchIf(expr.MetaKeyIIFNAME, cfg.Name), matchIf(expr.MetaKeyOIFNAME, cfg.Outbound), verdict(expr.VerdictAccept))
	add(fwd, matchIf(expr.MetaKeyIIFNAME, cfg.Outbound), matchIf(expr.MetaKeyOIFNAME, cfg.Name), matchEstablished(), verdict(expr.VerdictAccept))
	nat := &nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept,
	}
	rs.chains = append(rs.chains, nat)
	add(nat, matchAddr(12, subnet), matchIf(expr.MetaKeyOIFNAME, cfg.Outbound), []expr.Any{&expr.Masq{}})
	return rs
}

// matchAddr matches the IPv4 header's source (offset 12) or destination
// (16) address against p.
func matchAddr(offset uint32, p netip.Prefix) []expr.Any {
	e := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}}
	if p.Bits() < 32 {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: net.CIDRMask(p.Bits(), 32), Xor: make([]byte, 4)})
	}
	a := p.Masked().Addr().As4()
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]})
}

// matchIf matches an interface name as nft does: NUL-padded to IFNAMSIZ.
func matchIf(key expr.MetaKey, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b}}
}

func matchEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func verdict(k expr.VerdictKind) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: k}}
}
