package dnsd

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// A name may belong to several members (docker's aliases: the replicas
// of a compose service answer to its name together); it then resolves to
// all their addresses, in the order they were registered.

// member is one registered sandbox.
type member struct {
	names []string // canonical (lower case, no trailing dot), in the order given
	ip    net.IP   // 4-byte for IPv4, 16-byte for IPv6
	rev   string   // the reverse-lookup name of ip (dns.ReverseAddr), lower case
}

// table maps member names and addresses to members. It is safe for
// concurrent use.
type table struct {
	mu     sync.RWMutex
	byID   map[string]*member
	byName map[string][]string // canonical name -> member ids
	byRev  map[string]string   // reverse-lookup name -> member id
}

func newTable() *table {
	return &table{
		byID:   make(map[string]*member),
		byName: make(map[string][]string),
		byRev:  make(map[string]string),
	}
}

// canonical returns name in the form the table keys use: lower case, without
// the trailing dot of a fully qualified name.
func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

func (t *table) set(id string, names []string, ip net.IP) error {
	if id == "" {
		return errors.New("empty member id")
	}
	addr := ip.To4()
	if addr == nil {
		addr = ip.To16()
	}
	if addr == nil {
		return fmt.Errorf("member %s: invalid IP address %q", id, ip)
	}
	m := &member{ip: addr}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		c := canonical(n)
		if c == "" {
			return fmt.Errorf("member %s: empty name", id)
		}
		if _, ok := dns.IsDomainName(c); !ok || len(c) > 253 {
			return fmt.Errorf("member %s: %q is not a valid DNS name", id, n)
		}
		if !seen[c] {
			seen[c] = true
			m.names = append(m.names, c)
		}
	}
	rev, err := dns.ReverseAddr(addr.String())
	if err != nil {
		return fmt.Errorf("member %s: reverse name of %s: %w", id, addr, err)
	}
	m.rev = strings.ToLower(rev)

	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(id)
	t.byID[id] = m
	for _, c := range m.names {
		t.byName[c] = append(t.byName[c], id)
	}
	// A member with no name has nothing to answer a PTR query with.
	if len(m.names) > 0 {
		t.byRev[m.rev] = id
	}
	return nil
}

func (t *table) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(id)
}

func (t *table) removeLocked(id string) {
	m, ok := t.byID[id]
	if !ok {
		return
	}
	delete(t.byID, id)
	for _, c := range m.names {
		ids := t.byName[c][:0]
		for _, o := range t.byName[c] {
			if o != id {
				ids = append(ids, o)
			}
		}
		if len(ids) == 0 {
			delete(t.byName, c)
		} else {
			t.byName[c] = ids
		}
	}
	if t.byRev[m.rev] != id {
		return
	}
	delete(t.byRev, m.rev)
	// Two members may share an address (one leaving while its successor
	// joins): the other one answers the PTR query from now on.
	for oid, o := range t.byID {
		if o.rev == m.rev && len(o.names) > 0 {
			t.byRev[m.rev] = oid
			break
		}
	}
}

// lookup returns the addresses of the members called name (canonical
// form).
func (t *table) lookup(name string) ([]net.IP, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids, ok := t.byName[name]
	if !ok {
		return nil, false
	}
	ips := make([]net.IP, len(ids))
	for i, id := range ids {
		ips[i] = t.byID[id].ip
	}
	return ips, true
}

// reverse returns the first name of the member whose address has the
// reverse-lookup name rev (canonical form, as dns.ReverseAddr without the
// trailing dot).
func (t *table) reverse(rev string) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	id, ok := t.byRev[rev+"."]
	if !ok {
		return "", false
	}
	return t.byID[id].names[0], true
}
