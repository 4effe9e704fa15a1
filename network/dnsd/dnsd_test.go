package dnsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream is a nameserver for the tests: known.example. is 192.0.2.1,
// big.example. has 40 A records (truncated over UDP), fail.example. gets
// SERVFAIL (or, with answerFail, 192.0.2.2), anything else NXDOMAIN.
type upstream struct {
	addr       string
	queries    atomic.Int64
	answerFail bool
}

func startUpstream(t *testing.T, answerFail bool) *upstream {
	t.Helper()
	u := &upstream{answerFail: answerFail}
	pc, ln := udpAndTCP(t)
	u.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch q.Name {
		case "known.example.":
			m.Answer = append(m.Answer, testA(q.Name, "192.0.2.1"))
		case "big.example.":
			for i := range 40 {
				m.Answer = append(m.Answer, testA(q.Name, fmt.Sprintf("192.0.2.%d", i+10)))
			}
		case "fail.example.":
			if u.answerFail {
				m.Answer = append(m.Answer, testA(q.Name, "192.0.2.2"))
			} else {
				m.Rcode = dns.RcodeServerFailure
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		if _, ok := w.LocalAddr().(*net.UDPAddr); ok {
			m.Truncate(udpSize(r))
		}
		if err := w.WriteMsg(m); err != nil {
			t.Errorf("upstream: %v", err)
		}
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func testA(name, ip string) *dns.A {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)}
}

// startServer serves s on 127.0.0.1 (UDP and TCP on the same random port)
// until the test ends, and returns the address.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	pc, ln := udpAndTCP(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(pc, ln) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return pc.LocalAddr().String()
}

func query(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	if r.Id != m.Id {
		t.Fatalf("%s: answer ID %d, query ID %d", name, r.Id, m.Id)
	}
	return r
}

// answers returns the data of r's answer records, as text.
func answers(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		case *dns.PTR:
			out = append(out, rr.Ptr)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func expect(t *testing.T, r *dns.Msg, rcode int, want ...string) {
	t.Helper()
	if r.Rcode != rcode {
		t.Errorf("%s: rcode %s, want %s", r.Question[0].Name, dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
	}
	got := answers(r)
	if fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s %s: answers %v, want %v", r.Question[0].Name, dns.TypeToString[r.Question[0].Qtype], got, want)
	}
}

func TestMember(t *testing.T) {
	up := startUpstream(t, false)
	s := New(Config{Upstreams: []string{up.addr}, Domain: "dns.podman"})
	if err := s.Set("id1", []string{"web", "Alias"}, net.ParseIP("10.88.0.5")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("id6", []string{"six"}, net.ParseIP("fd00::6")); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)

	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"web.", dns.TypeA, dns.RcodeSuccess, []string{"10.88.0.5"}},
		{"WeB.", dns.TypeA, dns.RcodeSuccess, []string{"10.88.0.5"}},
		{"alias.", dns.TypeA, dns.RcodeSuccess, []string{"10.88.0.5"}},
		{"web.dns.podman.", dns.TypeA, dns.RcodeSuccess, []string{"10.88.0.5"}},
		{"ALIAS.Dns.Podman.", dns.TypeA, dns.RcodeSuccess, []string{"10.88.0.5"}},
		{"web.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"web.", dns.TypeMX, dns.RcodeSuccess, nil},
		{"web.", dns.TypePTR, dns.RcodeSuccess, nil},
		{"six.", dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00::6"}},
		{"six.", dns.TypeA, dns.RcodeSuccess, nil},
		{"5.0.88.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"web."}},
		{"5.0.88.10.IN-ADDR.ARPA.", dns.TypePTR, dns.RcodeSuccess, []string{"web."}},
		{"6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"six."}},
		// Not members: under the domain, NXDOMAIN without asking upstream.
		{"other.dns.podman.", dns.TypeA, dns.RcodeNameError, nil},
		// A member name with more labels is not the member.
		{"web.example.", dns.TypeA, dns.RcodeNameError, nil},
	} {
		r := query(t, addr, "udp", tc.name, tc.qtype)
		expect(t, r, tc.rcode, tc.want...)
		if tc.rcode == dns.RcodeSuccess {
			if !r.Authoritative {
				t.Errorf("%s: answer not authoritative", tc.name)
			}
			for _, rr := range r.Answer {
				if rr.Header().Ttl != 0 {
					t.Errorf("%s: TTL %d, want 0", tc.name, rr.Header().Ttl)
				}
				if rr.Header().Name != tc.name {
					t.Errorf("answer name %q, want the question's %q", rr.Header().Name, tc.name)
				}
			}
		}
	}
	if n := up.queries.Load(); n != 1 {
		t.Errorf("upstream got %d queries, want 1 (web.example.)", n)
	}
}

func TestNoDomain(t *testing.T) {
	up := startUpstream(t, false)
	s := New(Config{Upstreams: []string{up.addr}})
	if err := s.Set("id1", []string{"web"}, net.ParseIP("10.88.0.5")); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	expect(t, query(t, addr, "udp", "web.", dns.TypeA), dns.RcodeSuccess, "10.88.0.5")
	expect(t, query(t, addr, "udp", "web.dns.podman.", dns.TypeA), dns.RcodeNameError)
	if n := up.queries.Load(); n != 1 {
		t.Errorf("upstream got %d queries, want 1 (web.dns.podman. is not a member without Domain)", n)
	}
}

func TestRemove(t *testing.T) {
	up := startUpstream(t, false)
	s := New(Config{Upstreams: []string{up.addr}})
	if err := s.Set("id1", []string{"web"}, net.ParseIP("10.88.0.5")); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	expect(t, query(t, addr, "udp", "web.", dns.TypeA), dns.RcodeSuccess, "10.88.0.5")
	s.Remove("id1")
	expect(t, query(t, addr, "udp", "web.", dns.TypeA), dns.RcodeNameError)
	expect(t, query(t, addr, "udp", "5.0.88.10.in-addr.arpa.", dns.TypePTR), dns.RcodeNameError)
	if n := up.queries.Load(); n != 2 {
		t.Errorf("upstream got %d queries, want 2 (the removed name and address)", n)
	}
	if ips := s.Lookup("web"); ips != nil {
		t.Errorf("Lookup after Remove: %v", ips)
	}
	s.Remove("id1") // twice: nothing happens
	s.Remove("nobody")
}

func TestForward(t *testing.T) {
	up := startUpstream(t, false)
	s := New(Config{Upstreams: []string{up.addr}})
	addr := startServer(t, s)
	r := query(t, addr, "udp", "known.example.", dns.TypeA)
	expect(t, r, dns.RcodeSuccess, "192.0.2.1")
	if r.Answer[0].Header().Ttl != 60 {
		t.Errorf("forwarded TTL %d, want upstream's 60", r.Answer[0].Header().Ttl)
	}
	expect(t, query(t, addr, "udp", "unknown.example.", dns.TypeA), dns.RcodeNameError)
	// A single label that is not a member goes upstream too.
	expect(t, query(t, addr, "udp", "nomember.", dns.TypeA), dns.RcodeNameError)
	// The only upstream's SERVFAIL is what the client gets.
	expect(t, query(t, addr, "udp", "fail.example.", dns.TypeA), dns.RcodeServerFailure)
	if n := up.queries.Load(); n != 4 {
		t.Errorf("upstream got %d queries, want 4", n)
	}
}

func TestForwardNextUpstream(t *testing.T) {
	failing := startUpstream(t, false)
	good := startUpstream(t, true)
	s := New(Config{Upstreams: []string{failing.addr, good.addr}})
	addr := startServer(t, s)
	expect(t, query(t, addr, "udp", "fail.example.", dns.TypeA), dns.RcodeSuccess, "192.0.2.2")
	// NXDOMAIN is an answer: the second upstream is not asked.
	expect(t, query(t, addr, "udp", "unknown.example.", dns.TypeA), dns.RcodeNameError)
	if a, b := failing.queries.Load(), good.queries.Load(); a != 2 || b != 1 {
		t.Errorf("upstreams got %d and %d queries, want 2 and 1", a, b)
	}
}

func TestInternal(t *testing.T) {
	up := startUpstream(t, false)
	s := New(Config{Upstreams: []string{up.addr}, Internal: true})
	if err := s.Set("id1", []string{"web"}, net.ParseIP("10.88.0.5")); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	expect(t, query(t, addr, "udp", "web.", dns.TypeA), dns.RcodeSuccess, "10.88.0.5")
	expect(t, query(t, addr, "udp", "known.example.", dns.TypeA), dns.RcodeRefused)
	expect(t, query(t, addr, "tcp", "other.", dns.TypeA), dns.RcodeRefused)
	expect(t, query(t, addr, "udp", "9.9.9.9.in-addr.arpa.", dns.TypePTR), dns.RcodeRefused)
	if n := up.queries.Load(); n != 0 {
		t.Errorf("internal network forwarded %d queries", n)
	}
}

// udpAndTCP listens on one port of 127.0.0.1 for UDP and TCP. The UDP
// port is the kernel's choice, and its TCP twin may be some other
// process's (the other packages' tests run at the same time): another
// port is tried then.
func udpAndTCP(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for i := 0; ; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || i == 50 {
			t.Fatal(err)
		}
	}
}

// deadUpstream returns the address of a UDP socket that never answers, and
// no TCP listener.
func deadUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestUpstreamDown(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		name      string
		upstreams []string
	}{
		{"none", nil},
		{"one", []string{deadUpstream(t)}},
		{"two", []string{deadUpstream(t), deadUpstream(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Upstreams: tc.upstreams, Timeout: timeout})
			addr := startServer(t, s)
			for _, network := range []string{"udp", "tcp"} {
				start := time.Now()
				r := query(t, addr, network, "known.example.", dns.TypeA)
				took := time.Since(start)
				expect(t, r, dns.RcodeServerFailure)
				max := time.Duration(len(tc.upstreams))*timeout + time.Second
				if took > max {
					t.Errorf("SERVFAIL over %s after %v, want within %v", network, took, max)
				}
				if len(tc.upstreams) > 0 && took < time.Duration(len(tc.upstreams))*timeout {
					t.Errorf("SERVFAIL over %s after %v: not every upstream was waited for", network, took)
				}
			}
		})
	}
}

func TestForwardLimit(t *testing.T) {
	s := New(Config{Upstreams: []string{deadUpstream(t)}, Timeout: time.Minute})
	s.forwards = make(chan struct{}, 1)
	addr := startServer(t, s)
	go func() {
		m := new(dns.Msg)
		m.SetQuestion("first.example.", dns.TypeA)
		_, _, _ = (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, addr)
	}()
	for len(s.forwards) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	expect(t, query(t, addr, "udp", "second.example.", dns.TypeA), dns.RcodeServerFailure)
	if took := time.Since(start); took > time.Second {
		t.Errorf("query over the limit answered after %v, want at once", took)
	}
}

func TestEDNS(t *testing.T) {
	s := New(Config{})
	if err := s.Set("id1", []string{"web"}, net.ParseIP("10.88.0.5")); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	for _, edns := range []bool{false, true} {
		m := new(dns.Msg)
		m.SetQuestion("web.", dns.TypeA)
		if edns {
			m.SetEdns0(1232, false)
		}
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, r, dns.RcodeSuccess, "10.88.0.5")
		if got := r.IsEdns0() != nil; got != edns {
			t.Errorf("query with EDNS %v: answer with EDNS %v", edns, got)
		}
	}
}

func TestTCP(t *testing.T) {
	up := startUpstream(t, false)
	s := New(Config{Upstreams: []string{up.addr}})
	if err := s.Set("id1", []string{"web"}, net.ParseIP("10.88.0.5")); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	expect(t, query(t, addr, "tcp", "WEB.", dns.TypeA), dns.RcodeSuccess, "10.88.0.5")
	expect(t, query(t, addr, "tcp", "5.0.88.10.in-addr.arpa.", dns.TypePTR), dns.RcodeSuccess, "web.")
	expect(t, query(t, addr, "tcp", "known.example.", dns.TypeA), dns.RcodeSuccess, "192.0.2.1")

	// Too big for UDP: a TCP client gets all of it (the upstream asked
	// again over TCP), a UDP client a truncated answer to retry over TCP.
	r := query(t, addr, "tcp", "big.example.", dns.TypeA)
	if len(r.Answer) != 40 || r.Truncated {
		t.Errorf("big answer over TCP: %d records, truncated %v; want 40, false", len(r.Answer), r.Truncated)
	}
	m := new(dns.Msg)
	m.SetQuestion("big.example.", dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil || !r.Truncated || len(r.Answer) >= 40 {
		t.Errorf("big answer over UDP: %v, want truncated", r)
	}
}

// TestSharedName: a name two members have (an alias of a scaled
// service) answers both addresses; it goes with the last of them.
func TestSharedName(t *testing.T) {
	s := New(Config{})
	addr := startServer(t, s)
	ip1, ip2 := net.ParseIP("10.88.0.5"), net.ParseIP("10.88.0.6")
	if err := s.Set("id1", []string{"web-1", "web"}, ip1); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("id2", []string{"web-2", "WEB."}, ip2); err != nil {
		t.Fatal(err)
	}
	expect(t, query(t, addr, "udp", "web.", dns.TypeA), dns.RcodeSuccess, "10.88.0.5", "10.88.0.6")
	expect(t, query(t, addr, "udp", "web-2.", dns.TypeA), dns.RcodeSuccess, "10.88.0.6")
	// A member may register its names again; what it dropped is gone.
	if err := s.Set("id1", []string{"web-1"}, ip1); err != nil {
		t.Fatal(err)
	}
	if ips := s.Lookup("web"); len(ips) != 1 || !ips[0].Equal(ip2) {
		t.Errorf("web after id1 dropped it: %v, want %v", ips, ip2)
	}
	s.Remove("id2")
	if ips := s.Lookup("web"); ips != nil {
		t.Errorf("web after its last member went: %v", ips)
	}
}

func TestSetInvalid(t *testing.T) {
	s := New(Config{})
	for _, tc := range []struct {
		id    string
		names []string
		ip    net.IP
	}{
		{"", []string{"web"}, net.ParseIP("10.0.0.1")},
		{"id", []string{"web"}, nil},
		{"id", []string{""}, net.ParseIP("10.0.0.1")},
		{"id", []string{"a..b"}, net.ParseIP("10.0.0.1")},
	} {
		if err := s.Set(tc.id, tc.names, tc.ip); err == nil {
			t.Errorf("Set(%q, %q, %v): %v, want an invalid-argument error", tc.id, tc.names, tc.ip, err)
		}
	}
}

func TestLookup(t *testing.T) {
	s := New(Config{Domain: "Dns.Podman."})
	if err := s.Set("id1", []string{"Web"}, net.ParseIP("10.88.0.5")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"web", true},
		{"WEB.", true},
		{"web.dns.podman", true},
		{"web.DNS.PODMAN.", true},
		{"dns.podman", false},
		{".dns.podman", false},
		{"web.example", false},
		{"we", false},
	} {
		ips := s.Lookup(tc.name)
		if ok := len(ips) == 1 && ips[0].Equal(net.ParseIP("10.88.0.5")); ok != tc.ok {
			t.Errorf("Lookup(%q) = %v, want found %v", tc.name, ips, tc.ok)
		}
	}
}

func TestConcurrent(t *testing.T) {
	up := startUpstream(t, false)
	s := New(Config{Upstreams: []string{up.addr}})
	addr := startServer(t, s)
	if err := s.Set("stable", []string{"stable"}, net.ParseIP("10.88.0.2")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("m%d", w)
				if err := s.Set(id, []string{id, fmt.Sprintf("x%d", i%3)}, net.IPv4(10, 88, 1, byte(w))); err != nil {
					t.Errorf("Set: %v", err)
				}
				s.Remove(id)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 50 {
				expect(t, query(t, addr, "udp", "stable.", dns.TypeA), dns.RcodeSuccess, "10.88.0.2")
				r := query(t, addr, "udp", "m0.", dns.TypeA)
				if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
					t.Errorf("m0: rcode %s", dns.RcodeToString[r.Rcode])
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	for range 20 {
		query(t, addr, "tcp", "x1.", dns.TypeA)
	}
	close(stop)
	wg.Wait()
}

func TestClose(t *testing.T) {
	t.Run("before Serve", func(t *testing.T) {
		s := New(Config{})
		s.Close()
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(pc, nil); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve after Close: %v, want ErrServerClosed", err)
		}
		s.Close()
	})
	t.Run("forwarding in flight", func(t *testing.T) {
		s := New(Config{Upstreams: []string{deadUpstream(t)}, Timeout: time.Minute})
		addr := startServer(t, s)
		go func() {
			m := new(dns.Msg)
			m.SetQuestion("known.example.", dns.TypeA)
			_, _, _ = (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, addr)
		}()
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		s.Close()
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Close took %v with a forwarded query in flight", took)
		}
	})
	t.Run("right after Serve", func(t *testing.T) {
		for range 20 {
			s := New(Config{})
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(pc, nil) }()
			s.Close()
			select {
			case err := <-served:
				if err != nil && !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after Close")
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	s := New(Config{})
	if err := s.Set("id1", []string{"web"}, net.ParseIP("10.88.0.5")); err != nil {
		b.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(pc, nil) }()
	defer s.Close()
	c := &dns.Client{Timeout: 5 * time.Second}
	conn, err := c.Dial(pc.LocalAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion("web.", dns.TypeA)
	for b.Loop() {
		r, _, err := c.ExchangeWithConn(m, conn)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Answer) != 1 {
			b.Fatalf("answer %v", r)
		}
	}
}

// TestPeers: a member on two networks asks its first network's resolver
// for a name of its second; others cannot.
func TestPeers(t *testing.T) {
	up := startUpstream(t, false)
	a := New(Config{Upstreams: []string{up.addr}})
	b := New(Config{Upstreams: []string{up.addr}})
	addr := startServer(t, a)
	if err := b.Set("other", []string{"onb"}, net.ParseIP("10.89.1.3")); err != nil {
		t.Fatal(err)
	}
	// Not linked: forwarded, NXDOMAIN upstream.
	expect(t, query(t, addr, "udp", "onb.", dns.TypeA), dns.RcodeNameError)
	a.SetPeers(net.ParseIP("127.0.0.1"), []*Server{b})
	expect(t, query(t, addr, "udp", "onb.", dns.TypeA), dns.RcodeSuccess, "10.89.1.3")
	// From another client address (127.0.0.2: loopback, not linked).
	m := new(dns.Msg)
	m.SetQuestion("onb.", dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, dns.RcodeNameError)
	a.SetPeers(net.ParseIP("127.0.0.1"), nil)
	expect(t, query(t, addr, "udp", "onb.", dns.TypeA), dns.RcodeNameError)
}

// TestDial: the upstreams are dialled through Config.Dial when it is set.
func TestDial(t *testing.T) {
	up := startUpstream(t, false)
	var dials atomic.Int32
	s := New(Config{Upstreams: []string{up.addr}, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	addr := startServer(t, s)
	expect(t, query(t, addr, "udp", "known.example.", dns.TypeA), dns.RcodeSuccess, "192.0.2.1")
	if dials.Load() != 1 {
		t.Errorf("Dial called %d times, want 1", dials.Load())
	}
}
