// Package dnsd is the DNS resolver of a usandbox network: it answers the
// names of the network's members (sandbox names, aliases, IDs) from an
// in-memory table and forwards every other query to the upstream
// nameservers. The network's holder process runs one Server per network on
// sockets it opened inside the network's namespace (GATEWAY:53).
package dnsd

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout is the time allowed for one attempt at one upstream when
// Config.Timeout is zero. glibc waits 5s for an answer before it asks again,
// so two upstreams that do not answer still give a SERVFAIL before that.
const DefaultTimeout = 2 * time.Second

// memberTTL is the TTL of the answers for members: 0, so that nothing in a
// sandbox caches them and a name stops resolving the moment its member is
// removed.
const memberTTL = 0

// udpReadSize is the size of the buffer a query arriving over UDP is read
// into (queries are small; EDNS0 clients may send a few options).
const udpReadSize = 4096

// maxForwards is the number of forwarded queries a Server has in flight at
// most (dnsmasq's default dns-forward-max); a query beyond it gets SERVFAIL.
const maxForwards = 150

// ednsSize is the UDP payload size the Server's own answers advertise, the
// one DNS Flag Day 2020 recommends.
const ednsSize = 1232

// ErrServerClosed is returned by [Server.Serve] when it is called after
// [Server.Close].
var ErrServerClosed = errors.New("dns server closed")

// Config says how a Server answers what its name table does not.
type Config struct {
	// Upstreams are the nameservers that queries for names that are not
	// members are forwarded to, as "host:port" ("IP" alone means port 53).
	// They are tried in order over UDP; a query that came over TCP is
	// retried over TCP when the UDP answer is truncated (a UDP client gets
	// the truncated answer and retries over TCP itself). An upstream that
	// does not answer within Timeout, or answers SERVFAIL, REFUSED or
	// NOTIMP, gives way to the next one; when none gives a better answer
	// the client gets the last upstream's answer, or SERVFAIL when no
	// upstream answered at all. With no upstreams every forwarded query
	// gets SERVFAIL, and so does a query arriving while 150 forwarded
	// queries are in flight. Answers are not cached.
	Upstreams []string

	// Timeout is the time allowed for one attempt at one upstream;
	// DefaultTimeout when zero.
	Timeout time.Duration

	// Internal marks a network without outside access: nothing is
	// forwarded, and a query the name table does not answer gets REFUSED.
	// (aardvark-dns answers NXDOMAIN there. REFUSED makes glibc ask the
	// next nameserver in resolv.conf, which is the resolver of the
	// sandbox's next network, where a per-network resolver like this one
	// wants it to go; NXDOMAIN would end the lookup.)
	Internal bool

	// Domain is an optional search domain (podman's is "dns.podman"): a
	// member answers to NAME and to NAME.Domain, and a name under Domain
	// that is not a member gets NXDOMAIN instead of being forwarded. Empty
	// means no domain.
	Domain string

	// Dial, when set, makes the connections to the upstreams (network
	// "udp" or "tcp"): the holder's resolver serves in a network's
	// namespace but runs in a process that is not in it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Server is the resolver of one network. Its name table may be changed with
// Set and Remove while it serves. Create it with New.
type Server struct {
	cfg       Config
	domain    string // canonical Config.Domain
	upstreams []string
	names     *table
	udpClient *dns.Client
	tcpClient *dns.Client
	forwards  chan struct{} // one token per forwarded query in flight

	// ctx is cancelled by Close, to end the forwarding in flight at once.
	ctx    context.Context
	cancel context.CancelFunc

	// peers are, by client address, the resolvers of the client's other
	// networks (SetPeers).
	peersMu sync.RWMutex
	peers   map[string][]*Server

	mu      sync.Mutex
	closed  bool
	serving bool
	running []*running
	done    chan struct{} // closed when Serve's servers have all ended
}

// running is one dns.Server started by Serve.
type running struct {
	srv     *dns.Server
	started chan struct{} // closed once srv listens (Shutdown is allowed)
	ended   chan struct{} // closed once srv.ActivateAndServe returned
	err     error         // what ActivateAndServe returned, set before ended
}

// New returns a Server configured by cfg, with an empty name table.
func New(cfg Config) *Server {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	s := &Server{
		cfg:       cfg,
		domain:    canonical(cfg.Domain),
		names:     newTable(),
		udpClient: &dns.Client{Net: "udp", Timeout: cfg.Timeout},
		tcpClient: &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		forwards:  make(chan struct{}, maxForwards),
	}
	for _, u := range cfg.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(u, "53")
		}
		s.upstreams = append(s.upstreams, u)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Set registers the member id with its names (case-insensitive; a trailing
// dot is ignored) at address ip, replacing what was registered for id
// before. A name another member has too resolves to both (an alias of a
// scaled service). It returns an error, and changes nothing, when a name
// is not a valid DNS name or ip is not an address. An IPv4 member answers
// A queries, an IPv6 one AAAA queries.
func (s *Server) Set(id string, names []string, ip net.IP) error {
	return s.names.set(id, names, ip)
}

// SetPeers makes the names of others (the resolvers of the other networks
// that the member at client is on) answer its queries here too, as
// docker's embedded resolver answers a container's every network: a
// sandbox's resolv.conf lists its first network's resolver first, and a
// name of another of its networks would otherwise go upstream. Nil or
// empty others forgets client.
func (s *Server) SetPeers(client net.IP, others []*Server) {
	s.peersMu.Lock()
	defer s.peersMu.Unlock()
	if len(others) == 0 {
		delete(s.peers, client.String())
		return
	}
	if s.peers == nil {
		s.peers = map[string][]*Server{}
	}
	s.peers[client.String()] = append([]*Server(nil), others...)
}

// lookupPeers looks name up in the tables of client's other networks.
func (s *Server) lookupPeers(client net.IP, name string) ([]net.IP, bool) {
	if client == nil {
		return nil, false
	}
	s.peersMu.RLock()
	others := s.peers[client.String()]
	s.peersMu.RUnlock()
	for _, o := range others {
		if ips, ok := o.lookup(name); ok {
			return ips, true
		}
	}
	return nil, false
}

// Remove unregisters the member id: its names stop resolving with the next
// query. Removing an unknown id does nothing.
func (s *Server) Remove(id string) {
	s.names.remove(id)
}

// Lookup returns the addresses the name table gives name (as a query would
// see it: case-insensitive, with or without the trailing dot or Domain), or
// nil when name is not a member's.
func (s *Server) Lookup(name string) []net.IP {
	ips, _ := s.lookup(canonical(name))
	var out []net.IP
	for _, ip := range ips {
		out = append(out, append(net.IP(nil), ip...))
	}
	return out
}

// lookup finds name (canonical form) in the table: as it is, then without
// the Domain suffix.
func (s *Server) lookup(name string) ([]net.IP, bool) {
	if ips, ok := s.names.lookup(name); ok {
		return ips, true
	}
	if s.domain != "" {
		if short, ok := trimDomain(name, s.domain); ok {
			return s.names.lookup(short)
		}
	}
	return nil, false
}

// Serve answers queries arriving on udp and on tcp (either may be nil, not
// both) until Close is called or one of them fails. It takes ownership of
// both: they are closed when Serve returns. It returns nil after Close, the
// error of the socket that failed otherwise, and ErrServerClosed when
// called after Close.
func (s *Server) Serve(udp net.PacketConn, tcp net.Listener) error {
	if udp == nil && tcp == nil {
		return errors.New("dns server: no socket to serve on")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		closeSockets(udp, tcp)
		return ErrServerClosed
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("dns server: already serving")
	}
	s.serving = true
	s.done = make(chan struct{})
	handler := dns.HandlerFunc(s.serveDNS)
	if udp != nil {
		s.running = append(s.running, newRunning(&dns.Server{
			PacketConn: udp, Handler: handler, UDPSize: udpReadSize,
		}))
	}
	if tcp != nil {
		s.running = append(s.running, newRunning(&dns.Server{
			Listener: newLimitListener(tcp, maxTCP, maxTCPPerClient), Handler: handler,
		}))
	}
	all := s.running
	s.mu.Unlock()
	defer close(s.done)

	ended := make(chan *running, len(all))
	for _, r := range all {
		go func() {
			r.err = r.srv.ActivateAndServe()
			close(r.ended)
			ended <- r
		}()
	}
	// The first server to end (a failed socket, or Close) ends the others.
	first := <-ended
	s.cancel()
	for _, r := range all {
		if r != first {
			r.shutdown()
		}
	}
	for range len(all) - 1 {
		<-ended
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	for _, r := range all {
		if r.err != nil {
			return r.err
		}
	}
	return nil
}

func newRunning(srv *dns.Server) *running {
	r := &running{srv: srv, started: make(chan struct{}), ended: make(chan struct{})}
	srv.NotifyStartedFunc = func() { close(r.started) }
	return r
}

// shutdown stops r's server and waits until its handlers returned. Before
// the server listens, Shutdown would fail and leave it to start afterwards,
// hence the wait for started.
func (r *running) shutdown() {
	select {
	case <-r.started:
		// An error means the server stopped by itself meanwhile, which is
		// what shutdown wants.
		_ = r.srv.Shutdown()
	case <-r.ended:
	}
	<-r.ended
}

func closeSockets(udp net.PacketConn, tcp net.Listener) {
	// Errors of Close on sockets nobody used tell nothing to act on.
	if udp != nil {
		_ = udp.Close()
	}
	if tcp != nil {
		_ = tcp.Close()
	}
}

// Close stops Serve, cancels the forwarded queries in flight, and returns
// once Serve's goroutines have ended. Closing twice does nothing more.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := s.running
	done := s.done
	s.mu.Unlock()
	s.cancel()
	for _, r := range all {
		r.shutdown()
	}
	if done != nil {
		<-done
	}
}
