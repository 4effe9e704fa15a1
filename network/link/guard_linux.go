package link

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// The bridge's port guard: a member's root (or any process with
// CAP_NET_RAW, which the default capabilities include) could send frames
// with another member's or the gateway's addresses and take their
// traffic (ARP spoofing: docker's bridges allow it). In the network's
// namespace, a table of the bridge family drops, on each member's port,
// every frame whose Ethernet or ARP sender is not the member's MAC, whose
// ARP or IPv4 sender is not its address, or that is neither ARP nor IPv4.
//
// GuardTable is that table's name; its chain hooks the bridge's
// prerouting, before anything else.
const GuardTable = "usandbox-ports"

const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
)

// guard is a lasting nftables connection inside a network's namespace.
type guard struct {
	mu    sync.Mutex
	c     *nftables.Conn
	table *nftables.Table
	chain *nftables.Chain
}

// openGuard makes (or replaces) the guard table in ns and returns a
// connection to it.
func openGuard(ns *os.File) (*guard, error) {
	var c *nftables.Conn
	if err := Do(ns, func() (err error) {
		c, err = nftables.New(nftables.AsLasting())
		return err
	}); err != nil {
		return nil, fmt.Errorf("nftables netlink socket: %w", err)
	}
	g := &guard{c: c, table: &nftables.Table{Family: nftables.TableFamilyBridge, Name: GuardTable}}
	accept := nftables.ChainPolicyAccept
	prio := nftables.ChainPriority(-300)
	g.chain = &nftables.Chain{Name: "ports", Table: g.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: &prio, Policy: &accept}
	c.AddTable(g.table)
	c.DelTable(g.table)
	c.AddTable(g.table)
	c.AddChain(g.chain)
	if err := c.Flush(); err != nil {
		c.CloseLasting()
		return nil, fmt.Errorf("the bridge's port guard: %w", err)
	}
	return g, nil
}

func (g *guard) close() { g.c.CloseLasting() }

// rules are the guard's rules for one port.
func portRules(t *nftables.Table, ch *nftables.Chain, port string, mac net.HardwareAddr, ip netip.Addr) []*nftables.Rule {
	a := ip.As4()
	ethType := func(op expr.CmpOp, v uint16) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
			&expr.Cmp{Op: op, Register: 1, Data: []byte{byte(v >> 8), byte(v)}},
		}
	}
	neq := func(base expr.PayloadBase, off uint32, data []byte) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: uint32(len(data))},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: data},
		}
	}
	var rules []*nftables.Rule
	add := func(e ...[]expr.Any) {
		all := matchIf(expr.MetaKeyIIFNAME, port)
		for _, x := range e {
			all = append(all, x...)
		}
		all = append(all, &expr.Verdict{Kind: expr.VerdictDrop})
		rules = append(rules, &nftables.Rule{Table: t, Chain: ch, Exprs: all, UserData: []byte(port)})
	}
	add(neq(expr.PayloadBaseLLHeader, 6, mac))                                              // Ethernet source
	add(ethType(expr.CmpOpEq, etherTypeARP), neq(expr.PayloadBaseNetworkHeader, 8, mac))    // ARP sender MAC
	add(ethType(expr.CmpOpEq, etherTypeARP), neq(expr.PayloadBaseNetworkHeader, 14, a[:]))  // ARP sender IP
	add(ethType(expr.CmpOpEq, etherTypeIPv4), neq(expr.PayloadBaseNetworkHeader, 12, a[:])) // IPv4 source
	add(ethType(expr.CmpOpNeq, etherTypeIPv4), ethType(expr.CmpOpNeq, etherTypeARP))        // anything else
	return rules
}

// allow replaces port's rules by those that let only mac and ip out of it.
func (g *guard) allow(port string, mac net.HardwareAddr, ip netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.dropLocked(port); err != nil {
		return err
	}
	for _, r := range portRules(g.table, g.chain, port, mac, ip) {
		g.c.AddRule(r)
	}
	if err := g.c.Flush(); err != nil {
		return fmt.Errorf("guarding port %s: %w", port, err)
	}
	return nil
}

// forget removes port's rules.
func (g *guard) forget(port string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.dropLocked(port); err != nil {
		return err
	}
	return g.c.Flush()
}

func (g *guard) dropLocked(port string) error {
	rules, err := g.c.GetRules(g.table, g.chain)
	if err != nil {
		return fmt.Errorf("listing the port guard: %w", err)
	}
	for _, r := range rules {
		if string(r.UserData) == port {
			if err := g.c.DelRule(r); err != nil {
				return err
			}
		}
	}
	return nil
}
