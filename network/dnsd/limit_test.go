package dnsd

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestTCPPerClient: a client past its connection limit is cut off at
// once; it gets its slot back when it closes one; others are not
// affected, and UDP goes on.
func TestTCPPerClient(t *testing.T) {
	s := New(Config{})
	if err := s.Set("m", []string{"web"}, net.ParseIP("10.89.0.2")); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	dial := func(src string) (*dns.Conn, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return &dns.Conn{Conn: c}, nil
	}
	ask := func(c *dns.Conn) error {
		m := new(dns.Msg)
		m.SetQuestion("web.", dns.TypeA)
		c.SetDeadline(time.Now().Add(time.Second))
		if err := c.WriteMsg(m); err != nil {
			return err
		}
		_, err := c.ReadMsg()
		return err
	}
	var held []*dns.Conn
	for i := 0; i < maxTCPPerClient; i++ {
		c, err := dial("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := ask(c); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	over, err := dial("127.0.0.1")
	if err == nil {
		if err = ask(over); err == nil {
			t.Fatalf("connection %d of one client was served", maxTCPPerClient+1)
		}
		over.Close()
	}
	other, err := dial("127.0.0.2")
	if err != nil || ask(other) != nil {
		t.Fatalf("another client was refused: %v", err)
	}
	other.Close()
	expect(t, query(t, addr, "udp", "web.", dns.TypeA), dns.RcodeSuccess, "10.89.0.2")
	held[0].Close()
	time.Sleep(100 * time.Millisecond) // the server sees the close
	again, err := dial("127.0.0.1")
	if err != nil || ask(again) != nil {
		t.Fatalf("a freed slot was not given back: %v", err)
	}
	again.Close()
	for _, c := range held[1:] {
		c.Close()
	}
}

// TestTCPTotal: past the total, a connection waits (in the backlog) until
// a slot is free.
func TestTCPTotal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(ln, 2, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted past a total of 2")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("the third connection was not accepted when a slot freed")
	}
	second.Close()
}
