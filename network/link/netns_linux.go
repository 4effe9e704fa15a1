package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A network namespace is a property of an OS thread. Every function here
// that changes it does so on a fresh goroutine locked to its thread: if
// the thread cannot be put back into its original namespace, the
// goroutine ends still locked and the Go runtime kills the thread instead
// of handing a thread in the wrong namespace to other goroutines. That is
// not a failure: the networks' holder runs in a user namespace of its
// own but in the host's network namespace, which it may leave (it owns
// the networks' namespaces) but never re-enter (it has no capability in
// the host's user namespace); each of its calls costs a thread.

// onThread runs fn on a new goroutine locked to its OS thread and returns
// fn's error. fn returns restored=false when it could not put the thread
// back into its original network namespace: the goroutine then ends
// still locked, and the runtime kills the thread.
func onThread(fn func() (restored bool, err error)) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := fn()
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func threadNetNS() (*os.File, error) {
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("opening this thread's network namespace: %w", err)
	}
	return f, nil
}

// NewNetNS makes a new network namespace, owned by the caller's user
// namespace, with its loopback interface up, and returns an fd of it. The
// calling process and thread stay where they are. The namespace lives as
// long as the fd (or anything else inside it, such as an interface's
// peer, a socket or a process) does.
func NewNetNS() (*os.File, error) {
	var ns *os.File
	err := onThread(func() (bool, error) {
		orig, err := threadNetNS()
		if err != nil {
			return true, err
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return true, fmt.Errorf("making a network namespace: %w", err)
		}
		f, err := threadNetNS()
		if err == nil {
			if err = loUp(); err != nil {
				f.Close()
			}
		}
		restored := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil
		if err == nil {
			ns = f
		}
		return restored, err
	})
	return ns, err
}

// loUp brings up lo in the current thread's network namespace.
func loUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer h.Close()
	return linkUpByName(h, "lo")
}

func linkUpByName(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	if l.Attrs().RawFlags&unix.IFF_UP != 0 {
		return nil
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// Do runs fn on an OS thread that is inside the network namespace ns, and
// returns fn's error. Sockets fn makes stay in ns after Do returns (a
// socket belongs to the namespace it was made in), so Do is how to open
// listeners in a network's namespace. fn runs on a goroutine of its own
// and must not start goroutines that expect to be in ns; the calling
// goroutine's thread is never moved.
func Do(ns *os.File, fn func() error) error {
	if ns == nil {
		return errors.New("no network namespace given")
	}
	return onThread(func() (bool, error) {
		orig, err := threadNetNS()
		if err != nil {
			return true, err
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			return true, fmt.Errorf("entering network namespace: %w", err)
		}
		ferr := fn()
		return unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil, ferr
	})
}

// handleAt opens a route netlink socket inside ns. The socket stays in
// ns, so the handle works from any thread afterwards.
func handleAt(ns *os.File) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := Do(ns, func() error {
		var err error
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink socket in network namespace: %w", err)
	}
	return h, nil
}

// Dialer makes connections from inside a network namespace for a process
// that is not in it (the holder's resolver forwarding to its upstreams):
// one OS thread stays in the namespace and dials for every caller, so a
// connection costs no thread. A connection, once made, belongs to the
// namespace whatever thread uses it.
type Dialer struct {
	reqs chan dialReq
	stop chan struct{}
}

type dialReq struct {
	ctx           context.Context
	network, addr string
	reply         chan dialReply
}

type dialReply struct {
	conn net.Conn
	err  error
}

// NewDialer starts a Dialer in ns; Close ends it.
func NewDialer(ns *os.File) (*Dialer, error) {
	d := &Dialer{reqs: make(chan dialReq), stop: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with the goroutine (it may not
		// be able to return to its first namespace).
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		ready <- nil
		var nd net.Dialer
		for {
			select {
			case <-d.stop:
				return
			case r := <-d.reqs:
				c, err := nd.DialContext(r.ctx, r.network, r.addr)
				r.reply <- dialReply{c, err}
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

// DialContext connects to addr over network ("udp", "tcp") from inside
// the Dialer's namespace.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r := dialReq{ctx: ctx, network: network, addr: addr, reply: make(chan dialReply, 1)}
	select {
	case d.reqs <- r:
	case <-d.stop:
		return nil, errors.New("the namespace's dialer is closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rep := <-r.reply
	return rep.conn, rep.err
}

// Close ends the Dialer's thread.
func (d *Dialer) Close() { close(d.stop) }
