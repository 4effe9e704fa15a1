//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostListener accepts on addr and counts the connections; each gets
// "host\n" and stays open until the client closes it (ended is told).
type hostListener struct {
	ln       net.Listener
	accepted atomic.Int32
	ended    chan struct{}
}

func listenHost(t *testing.T, addr string) *hostListener {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &hostListener{ln: ln, ended: make(chan struct{}, 100)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			go func() {
				fmt.Fprintln(c, "host")
				io.Copy(io.Discard, c)
				c.Close()
				h.ended <- struct{}{}
			}()
		}
	}()
	return h
}

func (h *hostListener) port() string { return strconv.Itoa(h.ln.Addr().(*net.TCPAddr).Port) }

// TestBypass: with bypass=true a TCP connection to the outside is a host
// socket (its own address is the host's, and the user-mode stack never
// sees it), and nothing is reachable that is not without bypass.
func TestBypass(t *testing.T) {
	s := withImages(t, false)
	atk := attackBin(t)
	vol := "-v=" + atk + ":/attack:ro"
	ip := hostIP(t)
	outside := listenHost(t, ip+":0")
	loop := listenHost(t, "127.0.0.1:0")

	for _, netw := range []string{"slirp4netns", "pasta"} {
		t.Run(netw, func(t *testing.T) {
			s := s.with(t)
			// Without bypass, the sandbox's own address; with it, the host's.
			plain := s.ok("run", "--rm", "--network", netw, vol, "busybox", "/attack", "tcpask", ip+":"+outside.port(), "x")
			by := s.ok("run", "--rm", "--network", netw+":bypass=true", vol, "busybox", "/attack", "tcpask", ip+":"+outside.port(), "x")
			if !strings.Contains(by, "REPLY host") || !strings.Contains(plain, "REPLY host") {
				t.Fatalf("connection to the host: plain %q, bypass %q", plain, by)
			}
			if netw == "slirp4netns" && !strings.Contains(plain, "LOCAL 10.0.2.100:") {
				t.Errorf("without bypass the socket should be the sandbox's: %q", plain)
			}
			if !strings.Contains(by, "LOCAL "+ip+":") {
				t.Errorf("with bypass the socket should be the host's (%s): %q", ip, by)
			}
		})
	}

	t.Run("refused as without bypass", func(t *testing.T) {
		s := s.with(t)
		before := loop.accepted.Load()
		// The host's loopback: through the gateway (allow_host_loopback
		// is false), as 127.0.0.1 and 0.0.0.0 (the sandbox's own), and
		// on the host's address (it listens on loopback only).
		for _, dst := range []string{"10.0.2.2", "127.0.0.1", "0.0.0.0", ip} {
			r := s.run("run", "--rm", "--network", "slirp4netns:bypass=true", vol, "busybox", "/attack", "tcpask", dst+":"+loop.port(), "x")
			if r.code == 0 {
				t.Errorf("reached the host's loopback at %s:%s: %q", dst, loop.port(), r.stdout)
			}
		}
		if n := loop.accepted.Load() - before; n != 0 {
			t.Fatalf("the host's loopback listener got %d connections", n)
		}
		// The fd-swap race on the calls the handler lets continue.
		r := s.run("run", "--rm", "--network", "slirp4netns:bypass=true", vol, "busybox", "/attack", "bypassrace",
			"-host", ip+":"+outside.port(), "-loop", loop.port(), "-n", "20000")
		if r.code != 0 || !strings.Contains(r.stdout, "\nOK") || strings.Contains(r.stdout, "HOLE") {
			t.Fatalf("bypassrace: %+v", r)
		}
		if n := loop.accepted.Load() - before; n != 0 {
			t.Fatalf("the race reached the host's loopback %d times", n)
		}
	})

	t.Run("ports", func(t *testing.T) {
		s := s.with(t)
		pub, unpub := freePort(t), freePort(t)
		// A host process holds a port the sandbox listens on too: the
		// sandbox gets its own, in its namespace; the host's is untouched.
		foreign := listenHost(t, "0.0.0.0:0")
		id := strings.TrimSpace(s.ok("run", "-d", "--network", "slirp4netns:bypass=true", "-p", fmt.Sprintf("%d:80", pub), vol, "busybox", "sh", "-c",
			fmt.Sprintf("/attack tcpserve 80 & /attack tcpserve %d & /attack tcpserve %s & sleep 1000", unpub, foreign.port())))
		t.Cleanup(func() { s.run("rm", "-f", id) })
		// The published port answers from inside, and the server sees
		// the client's own address (no port driver in between).
		var reply string
		for i := 0; i < 50; i++ {
			if c, err := net.DialTimeout("tcp4", ip+":"+strconv.Itoa(pub), time.Second); err == nil {
				reply, _ = bufio.NewReader(c).ReadString('\n')
				c.Close()
				if reply != "" {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.HasPrefix(reply, "peer="+ip+":") {
			t.Fatalf("published port: %q, want the client's address %s", reply, ip)
		}
		// An unpublished port stays the sandbox's: nothing listens on the
		// host, and the host can take the port itself.
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(unpub), time.Second); err == nil {
			c.Close()
			t.Fatalf("unpublished port %d answers on the host", unpub)
		}
		if ln, err := net.Listen("tcp4", ":"+strconv.Itoa(unpub)); err != nil {
			t.Fatalf("the sandbox holds its unpublished port %d on the host: %v", unpub, err)
		} else {
			ln.Close()
		}
		before := foreign.accepted.Load()
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:"+foreign.port(), time.Second); err == nil {
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
		if foreign.accepted.Load() != before+1 {
			t.Fatalf("the host's own listener on %s lost its connection", foreign.port())
		}
		// Inside, its own published port (on loopback and its address) is
		// the server; an exec'd command is bypassed too.
		for _, dst := range []string{"127.0.0.1:80", "10.0.2.100:80"} {
			if out := s.ok("exec", id, "/attack", "tcpask", dst, "x"); !strings.Contains(out, "REPLY peer=") {
				t.Errorf("its own published port at %s: %q", dst, out)
			}
		}
		if out := s.ok("exec", id, "/attack", "tcpask", ip+":"+outside.port(), "x"); !strings.Contains(out, "LOCAL "+ip+":") {
			t.Errorf("exec is not bypassed: %q", out)
		}
		s.ok("rm", "-f", id)
		// The published port is free again.
		if ln, err := net.Listen("tcp4", ":"+strconv.Itoa(pub)); err != nil {
			t.Fatalf("port %d still held after rm: %v", pub, err)
		} else {
			ln.Close()
		}
	})

	t.Run("monitor killed", func(t *testing.T) {
		s := s.with(t)
		pub := freePort(t)
		held := listenHost(t, ip+":0")
		c := s.cmd("run", "--rm", "--network", "slirp4netns:bypass=true", "-p", fmt.Sprintf("%d:80", pub), vol, "busybox", "sh", "-c",
			"/attack tcpserve 80 & nc "+ip+" "+held.port()+" </dev/zero >/dev/null")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for held.accepted.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the sandbox's connection never came")
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
		select {
		case <-held.ended:
		case <-time.After(10 * time.Second):
			t.Fatal("the bypassed connection outlived the killed monitor")
		}
		// Nothing of the sandbox is left on the host: its port and helpers.
		for i := 0; ; i++ {
			ln, err := net.Listen("tcp4", ":"+strconv.Itoa(pub))
			if err == nil {
				ln.Close()
				break
			}
			if i == 50 {
				t.Fatalf("port %d still held after the monitor died: %v", pub, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		assertNoHelpers(t)
		// Its record goes at the next command (the keeper removed its
		// layer; the dead monitor could not remove the directory).
		s.ok("ps", "-a")
	})
	s.assertNoSandboxes()
}
