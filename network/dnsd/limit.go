package dnsd

import (
	"net"
	"sync"
)

// The TCP limits: a network's resolver holds at most maxTCP connections,
// at most maxTCPPerClient of them from one address. One member cannot
// take the file descriptors of the process that serves every network's
// resolver (the holder): a connection past the limits is closed at once
// (per client) or waits in the kernel's backlog (in all), and UDP, which
// glibc uses, goes on.
const (
	maxTCP          = 64
	maxTCPPerClient = 8
)

// limitListener is a TCP listener under the limits.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	perClient int

	mu     sync.Mutex
	byAddr map[string]int
}

func newLimitListener(l net.Listener, total, perClient int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, total), perClient: perClient, byAddr: map[string]int{}}
}

// Accept waits for a free slot, then for a connection from a client that
// is under its own limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		l.slots <- struct{}{}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		host := clientOf(c)
		l.mu.Lock()
		if l.byAddr[host] >= l.perClient {
			l.mu.Unlock()
			c.Close()
			<-l.slots
			continue
		}
		l.byAddr[host]++
		l.mu.Unlock()
		return &limitConn{Conn: c, l: l, host: host}, nil
	}
}

func clientOf(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

// limitConn gives its slot back when closed (once).
type limitConn struct {
	net.Conn
	l    *limitListener
	host string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.byAddr[c.host]--; c.l.byAddr[c.host] <= 0 {
			delete(c.l.byAddr, c.host)
		}
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}
