package dnsd

import (
	"context"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// serveDNS answers one query: from the name table when it names a member,
// else by forwarding it (or refusing it on an internal network).
func (s *Server) serveDNS(w dns.ResponseWriter, r *dns.Msg) {
	// A client that is gone or a socket being closed leaves nobody to tell.
	var client net.IP
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		client = a.IP
	case *net.TCPAddr:
		client = a.IP
	}
	_ = w.WriteMsg(s.answer(r, isTCP(w), client))
}

func isTCP(w dns.ResponseWriter) bool {
	_, ok := w.LocalAddr().(*net.TCPAddr)
	return ok
}

func (s *Server) answer(r *dns.Msg, tcp bool, client net.IP) *dns.Msg {
	// dns.DefaultMsgAcceptFunc already rejected what is not a QUERY with
	// exactly one question.
	q := r.Question[0]
	if m := s.answerLocal(r, q, client); m != nil {
		return m
	}
	if s.cfg.Internal {
		return reply(r, dns.RcodeRefused)
	}
	return s.forward(r, tcp)
}

// answerLocal answers q from the name table, or returns nil when q is not
// about a member.
func (s *Server) answerLocal(r *dns.Msg, q dns.Question, client net.IP) *dns.Msg {
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return nil
	}
	name := canonical(q.Name)
	if q.Qtype == dns.TypePTR {
		if target, ok := s.names.reverse(name); ok {
			m := reply(r, dns.RcodeSuccess)
			m.Answer = append(m.Answer, &dns.PTR{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: memberTTL},
				Ptr: dns.Fqdn(target),
			})
			return m
		}
		// A PTR query for a member's name is answered below, empty.
	}
	ips, ok := s.lookup(name)
	if !ok {
		ips, ok = s.lookupPeers(client, name)
	}
	if !ok {
		if s.domain != "" {
			if _, under := trimDomain(name, s.domain); under || name == s.domain {
				// The domain is ours: what is not in the table does not exist.
				return reply(r, dns.RcodeNameError)
			}
		}
		return nil
	}
	// A known name answers every type, with no records when there is none
	// of that type: glibc's parallel A and AAAA queries both get an answer
	// at once.
	m := reply(r, dns.RcodeSuccess)
	for _, ip := range ips {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: memberTTL}
		v4 := ip.To4() != nil
		switch {
		case v4 && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip})
		case !v4 && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
		}
	}
	return m
}

// trimDomain returns name without the suffix "."+domain, and whether name
// had it.
func trimDomain(name, domain string) (string, bool) {
	short, ok := strings.CutSuffix(name, "."+domain)
	return short, ok && short != ""
}

// reply returns an authoritative answer to r with rcode and no records.
func reply(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.Authoritative = rcode != dns.RcodeServerFailure && rcode != dns.RcodeRefused
	m.RecursionAvailable = true
	if r.IsEdns0() != nil {
		// RFC 6891: a query with EDNS gets an answer with EDNS.
		m.SetEdns0(ednsSize, false)
	}
	return m
}

// forward asks the upstreams in order (see Config.Upstreams) and returns
// what they answered, with r's ID.
func (s *Server) forward(r *dns.Msg, tcp bool) *dns.Msg {
	select {
	case s.forwards <- struct{}{}:
		defer func() { <-s.forwards }()
	default:
		// A sandbox flooding its resolver must not take all the holder's
		// file descriptors (one socket per forwarded query).
		return reply(r, dns.RcodeServerFailure)
	}
	var last *dns.Msg
	for _, up := range s.upstreams {
		resp, err := s.exchange(s.udpClient, r, up)
		if err == nil && resp.Truncated && tcp {
			resp, err = s.exchange(s.tcpClient, r, up)
		}
		if err != nil {
			if s.ctx.Err() != nil {
				break
			}
			continue
		}
		last = resp
		if !tryNext(resp.Rcode) {
			break
		}
	}
	if last == nil {
		return reply(r, dns.RcodeServerFailure)
	}
	last.Id = r.Id
	last.Compress = true
	if !tcp {
		// The upstream answered within the client's size, which it saw
		// in the query; repacking must not make it bigger than that.
		last.Truncate(udpSize(r))
	}
	return last
}

// tryNext says whether an upstream's answer with rcode is one the next
// upstream may better (as glibc's resolver does).
func tryNext(rcode int) bool {
	switch rcode {
	case dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeNotImplemented:
		return true
	}
	return false
}

// udpSize is the largest UDP answer the client of r accepts.
func udpSize(r *dns.Msg) int {
	if opt := r.IsEdns0(); opt != nil && opt.UDPSize() > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

// exchange sends r to upstream with client and returns its answer. The
// attempt ends after the client's timeout, or at once when the Server is
// closed.
func (s *Server) exchange(client *dns.Client, r *dns.Msg, upstream string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(s.ctx, client.Timeout)
	defer cancel()
	var conn *dns.Conn
	if s.cfg.Dial != nil {
		c, err := s.cfg.Dial(ctx, client.Net, upstream)
		if err != nil {
			return nil, err
		}
		conn = &dns.Conn{Conn: c}
	} else {
		var err error
		if conn, err = client.DialContext(ctx, upstream); err != nil {
			return nil, err
		}
	}
	defer conn.Close()
	// ExchangeWithConnContext obeys the deadline of ctx but not its
	// cancellation: closing the connection ends a read in progress.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := client.ExchangeWithConnContext(ctx, r, conn)
	return resp, err
}
