package bypass

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's structs of seccomp user notification (x86_64).
type notifData struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  notifData
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

type notifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// pidfdThread is PIDFD_THREAD (Linux 6.9): a pidfd of a thread.
const pidfdThread = unix.O_EXCL

// Reservation is a host socket bound to a published TCP address, held
// from the sandbox's start until the sandbox binds the port.
type Reservation struct {
	Published
	fd int
}

// Reserve binds a host socket to each published TCP port, so that the
// port is the sandbox's from its start (as the port driver's listener
// would be).
func Reserve(ports []Published) ([]*Reservation, error) {
	var out []*Reservation
	for _, p := range ports {
		fd, err := bindHost(unix.AF_INET, p.HostIP, p.HostPort, false)
		if err != nil {
			CloseReservations(out)
			return nil, fmt.Errorf("publishing %d/tcp on the host's port %d: %w", p.Container, p.HostPort, err)
		}
		out = append(out, &Reservation{Published: p, fd: fd})
	}
	return out, nil
}

// CloseReservations releases what is left of them.
func CloseReservations(rs []*Reservation) {
	for _, r := range rs {
		r.close()
	}
}

func (r *Reservation) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// bindHost makes a TCP socket in this process's (the host's) network
// namespace, bound to ip:port (every address for nil), non-blocking and
// close-on-exec. An AF_INET6 socket is dual-stack.
func bindHost(domain int, ip net.IP, port int, reusePort bool) (int, error) {
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if domain == unix.AF_INET6 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if reusePort {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if ip == nil {
		ip = net.IPv4zero
	}
	if domain == unix.AF_INET6 && ip.IsUnspecified() {
		ip = net.IPv6zero
	}
	if err := unix.Bind(fd, sockaddr(domain, ip, port)); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Handler answers one listener's notifications (see the package doc).
type Handler struct {
	fd     int
	pol    Policy
	hostNS uint64 // inode of this process's network namespace
	log    io.Writer

	mu  sync.Mutex
	res map[int]*Reservation // by container port, until bound

	quit [2]int
	done chan struct{}
}

// Serve answers the notifications of listener (which it takes) with pol
// until Close; rs are the reservations of pol's ports (the handler takes
// them too: an exec'd command's handler has none).
func Serve(listener *os.File, pol Policy, rs []*Reservation, log io.Writer) (*Handler, error) {
	if log == nil {
		log = io.Discard
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		listener.Close()
		return nil, fmt.Errorf("bypass: %w", err)
	}
	fd, err := unix.Dup(int(listener.Fd()))
	listener.Close()
	if err != nil {
		return nil, fmt.Errorf("bypass: %w", err)
	}
	unix.CloseOnExec(fd)
	h := &Handler{fd: fd, pol: pol, hostNS: st.Ino, log: log, res: map[int]*Reservation{}, done: make(chan struct{})}
	for _, r := range rs {
		h.res[r.Container] = r
	}
	if err := unix.Pipe2(h.quit[:], unix.O_CLOEXEC); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bypass: %w", err)
	}
	// Synchronous wake-ups (Linux 6.6): the handler runs on the CPU of
	// the caller that waits for it, and back; older kernels refuse the
	// flag, and the answers are the same without it.
	_, _, _ = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), seccompIoctlNotifSetFlags, seccompUserNotifFdSyncWakeUp)
	go h.loop()
	return h, nil
}

// SECCOMP_IOCTL_NOTIF_SET_FLAGS (SECCOMP_IOW(4, __u64)) and its one flag.
const (
	seccompIoctlNotifSetFlags    = 0x40082104
	seccompUserNotifFdSyncWakeUp = 1
)

// Close stops the handler and releases the listener and the
// reservations left; calls being answered finish by themselves.
func (h *Handler) Close() error {
	if h == nil {
		return nil
	}
	unix.Write(h.quit[1], []byte{0})
	<-h.done
	unix.Close(h.quit[0])
	unix.Close(h.quit[1])
	unix.Close(h.fd)
	h.mu.Lock()
	for _, r := range h.res {
		r.close()
	}
	h.res = nil
	h.mu.Unlock()
	return nil
}

func (h *Handler) loop() {
	defer close(h.done)
	// One thread waits and answers, which the synchronous wake-ups
	// are for.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fds := []unix.PollFd{{Fd: int32(h.fd), Events: unix.POLLIN}, {Fd: int32(h.quit[0]), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			fmt.Fprintf(h.log, "bypass: %v\n", err)
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			// POLLHUP: no process uses the filter any more.
			return
		}
		var n notif
		if err := ioctl(h.fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n)); err != nil {
			if err == unix.EINTR || err == unix.ENOENT {
				continue // the caller is gone (or was interrupted)
			}
			fmt.Fprintf(h.log, "bypass: receiving: %v\n", err)
			return
		}
		h.handle(n)
	}
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

func (h *Handler) valid(id uint64) bool {
	return ioctl(h.fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// reply answers the call: its return value, or -errno.
func (h *Handler) reply(id uint64, err error) {
	if errors.Is(err, errNoReply) {
		return
	}
	r := notifResp{ID: id}
	if err != nil {
		var e unix.Errno
		if !errors.As(err, &e) {
			e = unix.EIO
		}
		r.Error = -int32(e)
	}
	_ = ioctl(h.fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// proceed lets the call go on in the kernel as the caller made it.
func (h *Handler) proceed(id uint64) {
	r := notifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	_ = ioctl(h.fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// call is a decoded connect, bind or listen.
type call struct {
	op      int // nrConnect, nrBind or nrListen
	fd      int
	addr    uint64
	addrLen uint64
	backlog int
}

// decode reads the call's arguments: from the registers, or for i386's
// socketcall from the caller's memory, once.
func (h *Handler) decode(n *notif) (call, error) {
	a := n.Data.Args
	switch n.Data.Arch {
	case archX86_64:
		switch n.Data.Nr {
		case nrConnect, nrBind:
			return call{op: int(n.Data.Nr), fd: int(int32(a[0])), addr: a[1], addrLen: uint64(uint32(a[2]))}, nil
		case nrListen:
			return call{op: nrListen, fd: int(int32(a[0])), backlog: int(int32(a[1]))}, nil
		}
	case archI386:
		switch n.Data.Nr {
		case nr32Connect:
			return call{op: nrConnect, fd: int(int32(a[0])), addr: uint64(uint32(a[1])), addrLen: uint64(uint32(a[2]))}, nil
		case nr32Bind:
			return call{op: nrBind, fd: int(int32(a[0])), addr: uint64(uint32(a[1])), addrLen: uint64(uint32(a[2]))}, nil
		case nr32Listen:
			return call{op: nrListen, fd: int(int32(a[0])), backlog: int(int32(a[1]))}, nil
		case nr32Socketcall:
			var args [12]byte
			if err := readMem(int(n.Pid), uint64(uint32(a[1])), args[:]); err != nil {
				return call{}, unix.EFAULT
			}
			v := func(i int) uint32 { return binary.LittleEndian.Uint32(args[4*i:]) }
			switch a[0] {
			case scConnect:
				return call{op: nrConnect, fd: int(int32(v(0))), addr: uint64(v(1)), addrLen: uint64(v(2))}, nil
			case scBind:
				return call{op: nrBind, fd: int(int32(v(0))), addr: uint64(v(1)), addrLen: uint64(v(2))}, nil
			case scListen:
				return call{op: nrListen, fd: int(int32(v(0))), backlog: int(int32(v(1)))}, nil
			}
		}
	}
	return call{}, unix.ENOSYS
}

func readMem(pid int, addr uint64, b []byte) error {
	local := []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return unix.EFAULT
	}
	return nil
}

// target is the caller's socket: a pidfd of the calling thread and this
// process's own copy of the socket.
type target struct {
	tid, pidfd int
	fdNum      int // the socket's number in the caller
	sock       int // our copy
	domain     int
	typ        int
	tcp        bool
}

func (t *target) close() {
	if t.sock >= 0 {
		unix.Close(t.sock)
	}
	if t.pidfd >= 0 {
		unix.Close(t.pidfd)
	}
}

func (h *Handler) open(n *notif, fd int) (*target, error) {
	t := &target{tid: int(n.Pid), pidfd: -1, sock: -1, fdNum: fd}
	pidfd, err := unix.PidfdOpen(t.tid, pidfdThread)
	if err == unix.EINVAL {
		pidfd, err = unix.PidfdOpen(t.tid, 0) // before Linux 6.9: the leader only
	}
	if err != nil {
		return nil, err
	}
	t.pidfd = pidfd
	// The pid is the caller's, not a reused one: the call is still
	// pending.
	if !h.valid(n.ID) {
		t.close()
		return nil, unix.ENOENT
	}
	if t.sock, err = unix.PidfdGetfd(pidfd, fd, 0); err != nil {
		t.close()
		return nil, err
	}
	if t.domain, err = unix.GetsockoptInt(t.sock, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		t.close()
		return nil, err
	}
	t.typ, _ = unix.GetsockoptInt(t.sock, unix.SOL_SOCKET, unix.SO_TYPE)
	t.tcp = (t.domain == unix.AF_INET || t.domain == unix.AF_INET6) && t.typ == unix.SOCK_STREAM
	return t, nil
}

// onHost says whether the socket lives in the host's network namespace
// (one the handler gave). Asking a socket for its namespace takes
// CAP_NET_ADMIN over it, which this process has in the sandbox's only.
func (h *Handler) onHost(sock int) bool {
	nsfd, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(sock), unix.SIOCGSKNS, 0)
	if e != 0 {
		return true // EPERM: the host's (or unknown: treated as the host's)
	}
	defer unix.Close(int(nsfd))
	var st unix.Stat_t
	if unix.Fstat(int(nsfd), &st) != nil {
		return true
	}
	return st.Ino == h.hostNS
}

// handle answers one call, on the loop's thread but for a TCP connect,
// which may wait for its peer: that goes on in a goroutine of its own. A
// UDP connect (a stub resolver's every lookup) so costs no switch of
// thread on top of the notification's round trip.
func (h *Handler) handle(n notif) {
	c, err := h.decode(&n)
	if err != nil {
		h.reply(n.ID, err)
		return
	}
	t, err := h.open(&n, c.fd)
	if err == unix.ENOENT {
		return // the caller is gone
	}
	if err != nil {
		h.reply(n.ID, err)
		return
	}
	async := false
	defer func() {
		if !async {
			t.close()
		}
	}()
	switch c.op {
	case nrListen:
		h.reply(n.ID, h.listen(t, c.backlog))
	case nrConnect, nrBind:
		if !t.tcp {
			// UDP, unix, ...: the kernel's, as without bypass.
			h.proceed(n.ID)
			return
		}
		if c.addrLen > 128 {
			c.addrLen = 128
		}
		addr := make([]byte, c.addrLen)
		if c.addrLen > 0 {
			if err := readMem(t.tid, c.addr, addr); err != nil {
				h.reply(n.ID, unix.EFAULT)
				return
			}
		}
		if c.op == nrConnect {
			async = true
			go func() {
				defer t.close()
				h.connect(&n, t, addr)
			}()
		} else {
			h.reply(n.ID, h.bind(&n, t, addr))
		}
	}
}

// listen performs every listen: a host socket only on a published
// address (a host socket that is not listens nowhere).
func (h *Handler) listen(t *target, backlog int) error {
	if t.tcp && h.onHost(t.sock) && !h.published(t.sock) {
		return unix.EINVAL
	}
	return unix.Listen(t.sock, backlog)
}

// published says whether a host socket is bound to a published port.
func (h *Handler) published(sock int) bool {
	sa, err := unix.Getsockname(sock)
	if err != nil {
		return false
	}
	var port int
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	for _, p := range h.pol.Ports {
		if p.HostPort == port && port != 0 {
			return true
		}
	}
	return false
}

// rawAddr calls connect or bind on sock with the address as the caller
// gave it (our copy of it).
func rawAddr(nr uintptr, sock int, addr []byte) error {
	var p unsafe.Pointer
	if len(addr) > 0 {
		p = unsafe.Pointer(&addr[0])
	}
	_, _, e := unix.Syscall(nr, uintptr(sock), uintptr(p), uintptr(len(addr)))
	if e != 0 {
		return e
	}
	return nil
}

// connect performs a TCP connect.
func (h *Handler) connect(n *notif, t *target, addr []byte) {
	family, ip, port, ok := parseAddr(addr)
	host := h.onHost(t.sock)
	if family == unix.AF_UNSPEC && len(addr) >= 2 {
		// A disconnect: harmless on any socket.
		h.reply(n.ID, rawAddr(unix.SYS_CONNECT, t.sock, addr))
		return
	}
	route := Stay
	if ok {
		route = h.pol.Route(ip, port)
	}
	if route == Stay {
		if host {
			// A host socket goes only outside.
			if _, err := unix.Getpeername(t.sock); err == nil {
				h.reply(n.ID, unix.EISCONN)
			} else {
				h.reply(n.ID, unix.ENETUNREACH)
			}
			return
		}
		h.reply(n.ID, rawAddr(unix.SYS_CONNECT, t.sock, addr))
		return
	}
	dst, dport := ip, port
	if route == Own {
		dst, dport = h.pol.OwnTarget(port)
	}
	if host {
		// Again on a host socket (a non-blocking connect asked how it
		// went): to the same place.
		h.reply(n.ID, unix.Connect(t.sock, sockaddr(t.domain, dst, dport)))
		return
	}
	if bound(t.sock) {
		// Bound or connected in the sandbox already: it stays there.
		h.reply(n.ID, rawAddr(unix.SYS_CONNECT, t.sock, addr))
		return
	}
	h.reply(n.ID, h.swap(n, t, dst, dport))
}

// bound says whether a socket has a local port or a peer.
func bound(sock int) bool {
	if _, err := unix.Getpeername(sock); err == nil {
		return true
	}
	sa, err := unix.Getsockname(sock)
	if err != nil {
		return false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port != 0
	case *unix.SockaddrInet6:
		return a.Port != 0
	}
	return false
}

// errNoReply: the caller went away meanwhile; nothing is to be answered.
var errNoReply = errors.New("no reply")

// swap connects a new host socket to dst:port and puts it in place of
// the caller's. A blocking socket's connect is waited for here, and the
// socket is put in place only once connected.
func (h *Handler) swap(n *notif, t *target, dst net.IP, port int) error {
	hs, err := unix.Socket(t.domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(hs)
	if t.domain == unix.AF_INET6 {
		_ = unix.SetsockoptInt(hs, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	copyOptions(t.sock, hs)
	flags, err := unix.FcntlInt(uintptr(t.sock), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	err = unix.Connect(hs, sockaddr(t.domain, dst, port))
	if err != nil && err != unix.EINPROGRESS {
		return err
	}
	if err == unix.EINPROGRESS && flags&unix.O_NONBLOCK == 0 {
		if err = h.await(n, t.sock, hs); err != nil {
			return err
		}
	}
	if flags&unix.O_NONBLOCK == 0 {
		if _, e := unix.FcntlInt(uintptr(hs), unix.F_SETFL, flags); e != nil {
			return e
		}
	}
	if e := h.install(n, t, hs); e != nil {
		return e
	}
	return err // nil, or EINPROGRESS for a non-blocking socket
}

// await waits for a blocking connect of the caller: its socket's send
// timeout, if any, bounds it, as the kernel's would. A caller that is
// interrupted (its call no longer pending) is given up.
func (h *Handler) await(n *notif, orig, hs int) error {
	var deadline time.Time
	if tv, err := unix.GetsockoptTimeval(orig, unix.SOL_SOCKET, unix.SO_SNDTIMEO); err == nil && (tv.Sec != 0 || tv.Usec != 0) {
		deadline = time.Now().Add(time.Duration(tv.Nano()))
	}
	for {
		fds := []unix.PollFd{{Fd: int32(hs), Events: unix.POLLOUT}}
		k, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return err
		}
		if k > 0 {
			soerr, err := unix.GetsockoptInt(hs, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return err
			}
			if soerr != 0 {
				return unix.Errno(soerr)
			}
			return nil
		}
		if !h.valid(n.ID) {
			return errNoReply
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return unix.EINPROGRESS
		}
	}
}

// install puts hs at the caller's fd number, close-on-exec as the old
// one was.
func (h *Handler) install(n *notif, t *target, hs int) error {
	a := notifAddfd{ID: n.ID, Flags: unix.SECCOMP_ADDFD_FLAG_SETFD, Srcfd: uint32(hs), Newfd: uint32(t.fdNum)}
	if cloexec(t.tid, t.fdNum) {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(h.fd), uintptr(unix.SECCOMP_IOCTL_NOTIF_ADDFD), uintptr(unsafe.Pointer(&a)))
	if e != 0 {
		if e == unix.ENOENT {
			return errNoReply
		}
		return e
	}
	return nil
}

// cloexec reads whether the caller's fd is close-on-exec.
func cloexec(tid, fd int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return true
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "flags:"); ok {
			f, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err != nil || f&unix.O_CLOEXEC != 0
		}
	}
	return true
}

// bind performs a TCP bind: a published port gets its host socket.
func (h *Handler) bind(n *notif, t *target, addr []byte) error {
	if h.onHost(t.sock) {
		return unix.EINVAL // a host socket is bound already
	}
	_, ip, port, ok := parseAddr(addr)
	if ok && port != 0 {
		if _, pub := h.pol.Ports[port]; pub && (ip.IsUnspecified() || ip.IsLoopback() || ip.Equal(h.pol.Self)) {
			return h.bindPublished(n, t, port)
		}
		if port < 1024 && !hasCap(t.tid, unix.CAP_NET_BIND_SERVICE) {
			// The kernel checks the caller's capability; the
			// bind below is this process's, which has them all in
			// the sandbox.
			return unix.EACCES
		}
	}
	return rawAddr(unix.SYS_BIND, t.sock, addr)
}

// bindPublished gives the caller the host socket of a published port:
// the reservation the first time, a new one bound to the same address
// after (the first was closed, or SO_REUSEPORT).
func (h *Handler) bindPublished(n *notif, t *target, port int) error {
	pub := h.pol.Ports[port]
	h.mu.Lock()
	r := h.res[port]
	delete(h.res, port)
	h.mu.Unlock()
	reusePort, _ := unix.GetsockoptInt(t.sock, unix.SOL_SOCKET, unix.SO_REUSEPORT)
	var hs int
	var err error
	if r != nil && t.domain == unix.AF_INET && reusePort == 0 {
		hs, r.fd = r.fd, -1
	} else {
		if r != nil {
			r.close() // an AF_INET6 socket takes the port for both
		}
		if hs, err = bindHost(t.domain, pub.HostIP, pub.HostPort, reusePort != 0); err != nil {
			if err == unix.EADDRINUSE {
				return err
			}
			return unix.EADDRNOTAVAIL
		}
	}
	defer unix.Close(hs)
	flags, err := unix.FcntlInt(uintptr(t.sock), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	copyOptions(t.sock, hs)
	if _, err := unix.FcntlInt(uintptr(hs), unix.F_SETFL, flags); err != nil {
		return err
	}
	return h.install(n, t, hs)
}

// hasCap reads the thread's effective capabilities.
func hasCap(tid int, c int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && m&(1<<uint(c)) != 0
		}
	}
	return false
}

// copyOptions gives the host socket the options the caller set on its
// socket before connecting or binding it (those a host socket may take
// unprivileged).
func copyOptions(from, to int) {
	for _, o := range [][2]int{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE}, {unix.SOL_SOCKET, unix.SO_REUSEADDR}, {unix.SOL_SOCKET, unix.SO_OOBINLINE},
		{unix.IPPROTO_TCP, unix.TCP_NODELAY}, {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE}, {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT}, {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT}, {unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT},
	} {
		if v, err := unix.GetsockoptInt(from, o[0], o[1]); err == nil {
			if w, err := unix.GetsockoptInt(to, o[0], o[1]); err == nil && w != v {
				_ = unix.SetsockoptInt(to, o[0], o[1], v)
			}
		}
	}
	if l, err := unix.GetsockoptLinger(from, unix.SOL_SOCKET, unix.SO_LINGER); err == nil && l.Onoff != 0 {
		_ = unix.SetsockoptLinger(to, unix.SOL_SOCKET, unix.SO_LINGER, l)
	}
	for _, o := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if tv, err := unix.GetsockoptTimeval(from, unix.SOL_SOCKET, o); err == nil && (tv.Sec != 0 || tv.Usec != 0) {
			_ = unix.SetsockoptTimeval(to, unix.SOL_SOCKET, o, tv)
		}
	}
	// Not the buffer sizes: setting one turns the kernel's tuning of it
	// off, and a size the caller did not set cannot be told from one it
	// did.
	if cc, err := unix.GetsockoptString(from, unix.IPPROTO_TCP, unix.TCP_CONGESTION); err == nil {
		if cur, err := unix.GetsockoptString(to, unix.IPPROTO_TCP, unix.TCP_CONGESTION); err == nil && cur != cc {
			_ = unix.SetsockoptString(to, unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
		}
	}
	if v, err := unix.GetsockoptInt(from, unix.IPPROTO_IP, unix.IP_TOS); err == nil && v != 0 {
		_ = unix.SetsockoptInt(to, unix.IPPROTO_IP, unix.IP_TOS, v)
	}
}
