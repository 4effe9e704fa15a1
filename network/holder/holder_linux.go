package holder

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/internal/wire"
	"usandbox/network/dnsd"
	"usandbox/network/link"
	"usandbox/network/netconf"
)

// Main is the holder's process (role NetHolder), started by Start in the
// networks' user namespace: args[0] is the state directory. conn is the
// nsexec socket: the holder says "ready" on it once it listens.
func Main(conn *os.File, args []string) int {
	if len(args) < 1 || len(args) > 2 || (len(args) == 2 && args[1] != adoptFlag) {
		fmt.Fprintln(os.Stderr, "usandbox netholder: want the state directory [and "+adoptFlag+"]")
		return 125
	}
	// It outlives the run that started it (which waits for "ready"
	// before it goes), and is in no terminal's process group.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "usandbox netholder:", err)
		return 125
	}
	// Dumpable again (the C stage's change of credentials cleared it):
	// a member's keeper enters the holder's user namespace through its
	// pidfd, which the kernel allows only to a process that may ptrace
	// it (the user, on the host). No sandbox can name the holder: it is
	// in no sandbox's pid namespace.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "usandbox netholder:", err)
		return 125
	}
	if err := os.Chdir("/"); err != nil {
		fmt.Fprintln(os.Stderr, "usandbox netholder:", err)
		return 125
	}
	if _, err := unix.Setsid(); err != nil {
		fmt.Fprintln(os.Stderr, "usandbox netholder: setsid:", err)
		return 125
	}
	// The main thread stays this goroutine's: a goroutine that leaves a
	// thread in a network's namespace (package link) ends locked, and the
	// runtime kills its thread, but it would park the main thread instead,
	// pinning that namespace for the holder's life.
	runtime.LockOSThread()
	h := &holder{dir: args[0], nets: map[string]*netState{}, members: map[string]*member{}}
	l, err := h.listen()
	if err != nil {
		fmt.Fprintln(os.Stderr, "usandbox netholder:", err)
		wire.Write(conn, readyMsg{Error: err.Error()})
		return 125
	}
	if len(args) == 2 {
		// Before anybody is answered: the old addresses are the old
		// members' again.
		h.adopt()
	}
	if err := wire.Write(conn, readyMsg{Ready: true}); err != nil {
		return 125
	}
	conn.Close()
	h.l = l
	go h.idle()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if h.exited.Load() {
				return 0
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ECONNABORTED) || errors.Is(err, unix.EINTR) {
				// Out of descriptors for a moment: the clients wait in
				// the backlog; the holder does not give up its networks.
				fmt.Fprintln(os.Stderr, "usandbox netholder: accept:", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			fmt.Fprintln(os.Stderr, "usandbox netholder: accept:", err)
			return 125
		}
		go h.serve(c)
	}
}

// adoptFlag asks a new holder to plug in the live members a killed one
// left (see adopt).
const adoptFlag = "--adopt"

// readyMsg is the holder's one message on the nsexec socket.
type readyMsg struct {
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

type holder struct {
	dir string
	l   *net.UnixListener

	mu      sync.Mutex
	nets    map[string]*netState
	members map[string]*member
	exiting bool
	// exited: the holder is going (idle), Main returns; h.mu stays held.
	exited atomic.Bool
}

// netState is a network that has members.
type netState struct {
	cfg     netconf.Network
	subnet  *net.IPNet
	gateway net.IP
	ns      *os.File // the network's namespace
	bridge  *link.Bridge
	dialer  *link.Dialer // the resolver's connections to its upstreams
	dns     *dnsd.Server
	slirp   *exec.Cmd
	exitW   *os.File // slirp4netns ends when it closes
	used    map[string]string
	// pending are the veths being deleted (they need the bridge).
	pending sync.WaitGroup
}

// member is a sandbox on one or more networks: reserved until its init
// attaches, then alive as long as its init.
type member struct {
	id, name string
	joins    []memberNet
	// life is run's pidfd while reserved, then the init's.
	life     *os.File
	netns    *os.File // the member's network namespace (attached)
	attached bool
	gone     chan struct{}
	// keeperPid, initPid and initStart name the member's processes, for
	// a holder that adopts it after this one is killed.
	keeperPid, initPid     int
	keeperStart, initStart uint64
}

type memberNet struct {
	net     string
	aliases []string
	addr    Address
	plugged bool
}

func (h *holder) listen() (*net.UnixListener, error) {
	path := filepath.Join(h.dir, SocketName)
	// A stale socket: the client removed it under the lock before it
	// started this holder; nobody else makes it.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	st := map[string]any{"pid": os.Getpid(), "started": time.Now()}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(h.dir, StateName), b, 0o600); err != nil {
		return nil, err
	}
	return l, nil
}

// serve answers one client's requests until it hangs up.
func (h *holder) serve(c *net.UnixConn) {
	defer c.Close()
	f, err := c.File()
	if err != nil {
		return
	}
	defer f.Close()
	if !samePeer(f) {
		return
	}
	// A reservation of this session that was never attached goes with
	// it (its sandbox did not start).
	var reserved string
	defer func() {
		if reserved == "" {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if m := h.members[reserved]; m != nil && !m.attached {
			h.drop(m)
		}
	}()
	for {
		var req Request
		fds, err := wire.Recv(f, &req)
		if err != nil {
			return
		}
		files := make([]*os.File, len(fds))
		for i, fd := range fds {
			files[i] = os.NewFile(uintptr(fd), "fd")
		}
		rep, out := h.handle(req, files)
		if req.Kind == KindReserve && rep.Kind == KindReserved {
			reserved = req.ID
		}
		var outFds []int
		if out != nil {
			outFds = []int{int(out.Fd())}
		}
		err = wire.Send(f, rep, outFds...)
		if out != nil {
			out.Close()
		}
		if err != nil {
			return
		}
	}
}

// samePeer refuses a peer that is not this user (the socket is in a
// private directory too).
func samePeer(f *os.File) bool {
	cred, err := unix.GetsockoptUcred(int(f.Fd()), unix.SOL_SOCKET, unix.SO_PEERCRED)
	return err == nil && int(cred.Uid) == os.Getuid()
}

func fail(format string, a ...any) Reply {
	return Reply{Kind: KindError, Error: fmt.Sprintf(format, a...)}
}

func conflict(format string, a ...any) Reply {
	r := fail(format, a...)
	r.Conflict = true
	return r
}

// handle answers one request; files are the fds that came with it (owned
// by handle), out an fd to send back.
func (h *holder) handle(req Request, files []*os.File) (rep Reply, out *os.File) {
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.exiting {
		closeAll()
		return fail("the holder is exiting: try again"), nil
	}
	switch req.Kind {
	case KindReserve:
		if len(files) != 1 {
			closeAll()
			return fail("reserve: want the caller's pidfd"), nil
		}
		rep := h.reserve(req, files[0])
		if rep.Kind == KindError {
			return rep, nil
		}
		self, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			h.drop(h.members[req.ID])
			return fail("pidfd: %v", err), nil
		}
		return rep, os.NewFile(uintptr(self), "holder")
	case KindAttach:
		if len(files) != 2 {
			closeAll()
			return fail("attach: want the sandbox's netns and its init's pidfd"), nil
		}
		return h.attach(req, files[0], files[1]), nil
	case KindConnect:
		closeAll()
		return h.connect(req), nil
	case KindDisconnect:
		closeAll()
		return h.disconnect(req), nil
	case KindStatus:
		closeAll()
		return h.status(), nil
	}
	closeAll()
	return fail("unknown request %q", req.Kind), nil
}

func (h *holder) reserve(req Request, life *os.File) Reply {
	if h.exiting {
		life.Close()
		return fail("the holder is exiting: try again")
	}
	if _, ok := h.members[req.ID]; ok {
		life.Close()
		return conflict("sandbox %s is already on its networks", short(req.ID))
	}
	m := &member{id: req.ID, name: req.Name, life: life, gone: make(chan struct{})}
	var rep Reply
	for i, j := range req.Networks {
		a, err := h.plan(m, j, fmt.Sprintf("eth%d", i))
		if err != nil {
			h.release(m)
			life.Close()
			var c *conflictError
			if errors.As(err, &c) {
				return conflict("%v", err)
			}
			return fail("%v", err)
		}
		rep.Addresses = append(rep.Addresses, a)
	}
	h.members[m.id] = m
	h.watch(m)
	rep.Kind = KindReserved
	return rep
}

type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

// plan puts m on network j: the network runs from its first member on;
// the names must be free; the address is the lowest free one.
func (h *holder) plan(m *member, j Join, ifName string) (Address, error) {
	ns, err := h.network(j.Config)
	if err != nil {
		return Address{}, err
	}
	for _, mn := range m.joins {
		if mn.net == j.Config.Name {
			return Address{}, &conflictError{fmt.Sprintf("sandbox %s is already connected to network %s", m.name, j.Config.Name)}
		}
	}
	// Names: the sandbox's name and ID are unique in the store; an
	// alias may be shared (the replicas of a compose service answer to
	// it together, as docker's do).
	ip, err := ns.allocate(m.id)
	if err != nil {
		return Address{}, err
	}
	ones, _ := ns.subnet.Mask.Size()
	a := Address{
		Network: j.Config.Name, IfName: ifName, HostIf: hostIfName(m.id),
		IP: ip.String(), Prefix: ones, Gateway: ns.gateway.String(),
	}
	m.joins = append(m.joins, memberNet{net: j.Config.Name, aliases: j.Aliases, addr: a})
	return a, nil
}

// namesOf are the names a member answers to on a network: its name, its
// short ID, its aliases.
func namesOf(m *member, aliases []string) []string {
	names := []string{m.name, short(m.id)}
	return append(names, aliases...)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// hostIfName is the bridge side of a member's veth (IFNAMSIZ: 15).
func hostIfName(id string) string { return "v" + short(id) }

// attach plugs a reserved member in: its veths, its names.
func (h *holder) attach(req Request, netns, init *os.File) Reply {
	m, ok := h.members[req.ID]
	if !ok || m.attached {
		netns.Close()
		init.Close()
		return fail("sandbox %s has no reservation", short(req.ID))
	}
	m.netns = netns
	m.keeperPid, m.initPid = req.KeeperPid, req.InitPid
	if st, err := startTime(req.InitPid); err == nil {
		m.initStart = st
	}
	if st, err := startTime(req.KeeperPid); err == nil {
		m.keeperStart = st
	}
	for i := range m.joins {
		if err := h.plug(m, &m.joins[i]); err != nil {
			init.Close()
			h.drop(m)
			return fail("%v", err)
		}
	}
	// From now on the member lives as long as its init.
	old := m.life
	m.life, m.attached = init, true
	old.Close()
	close(m.gone) // stops the watcher of run's pidfd
	m.gone = make(chan struct{})
	h.watch(m)
	h.saveLocked()
	return Reply{Kind: KindAttached}
}

// plug makes the member's veth on one network and registers its names.
func (h *holder) plug(m *member, mn *memberNet) error {
	ns := h.nets[mn.net]
	ip := net.ParseIP(mn.addr.IP)
	addr, _ := netip.ParseAddr(mn.addr.IP)
	gw, _ := netip.ParseAddr(ns.gateway.String())
	mac, err := ns.bridge.Attach(m.netns, link.AttachConfig{
		Bridge: bridgeName, HostName: mn.addr.HostIf, IfName: mn.addr.IfName,
		Address: netip.PrefixFrom(addr, mn.addr.Prefix), Gateway: gw,
		MTU: ns.cfg.MTU, DefaultRoute: !ns.cfg.Internal && mn.addr.IfName == "eth0",
	})
	if err != nil {
		return fmt.Errorf("plugging sandbox %s into network %s: %w", m.name, mn.net, err)
	}
	mn.addr.MAC = mac.String()
	if err := ns.dns.Set(m.id, namesOf(m, mn.aliases), ip); err != nil {
		ns.bridge.Detach(mn.addr.HostIf)
		return &conflictError{fmt.Sprintf("network %s: %v", mn.net, err)}
	}
	mn.plugged = true
	h.linkPeers(m)
	return nil
}

// linkPeers lets each of m's networks' resolvers answer m's queries with
// the names of its other networks too.
func (h *holder) linkPeers(m *member) {
	for _, mn := range m.joins {
		ns := h.nets[mn.net]
		if ns == nil || !mn.plugged {
			continue
		}
		var others []*dnsd.Server
		for _, o := range m.joins {
			if o.net != mn.net && o.plugged && h.nets[o.net] != nil {
				others = append(others, h.nets[o.net].dns)
			}
		}
		ns.dns.SetPeers(net.ParseIP(mn.addr.IP), others)
	}
}

// connect puts an attached member on one more network.
func (h *holder) connect(req Request) Reply {
	m, ok := h.members[req.ID]
	if !ok || !m.attached {
		return fail("sandbox %s is not running on a network: start it with --network NAME to connect it later", short(req.ID))
	}
	if len(req.Networks) != 1 {
		return fail("connect: want one network")
	}
	a, err := h.plan(m, req.Networks[0], fmt.Sprintf("eth%d", nextIf(m)))
	if err != nil {
		var c *conflictError
		if errors.As(err, &c) {
			return conflict("%v", err)
		}
		return fail("%v", err)
	}
	mn := &m.joins[len(m.joins)-1]
	if err := h.plug(m, mn); err != nil {
		h.unplan(m, mn.net)
		return fail("%v", err)
	}
	h.saveLocked()
	return Reply{Kind: KindOK, Addresses: []Address{a}}
}

func nextIf(m *member) int {
	used := map[string]bool{}
	for _, mn := range m.joins {
		used[mn.addr.IfName] = true
	}
	for i := 0; ; i++ {
		if !used[fmt.Sprintf("eth%d", i)] {
			return i
		}
	}
}

func (h *holder) disconnect(req Request) Reply {
	m, ok := h.members[req.ID]
	if !ok {
		return fail("sandbox %s is not connected to network %s", short(req.ID), req.Network)
	}
	for _, mn := range m.joins {
		if mn.net == req.Network {
			h.unplan(m, mn.net)
			h.saveLocked()
			return Reply{Kind: KindOK}
		}
	}
	return fail("sandbox %s is not connected to network %s", m.name, req.Network)
}

// unplan takes m off one network: names, address, veth; the network
// stops with its last member.
func (h *holder) unplan(m *member, name string) {
	for i, mn := range m.joins {
		if mn.net != name {
			continue
		}
		if ns := h.nets[name]; ns != nil {
			ns.dns.Remove(m.id)
			ns.dns.SetPeers(net.ParseIP(mn.addr.IP), nil)
			switch {
			case mn.plugged && m.netns != nil:
				// A member that stays (disconnect) loses its veth here.
				if err := ns.bridge.Detach(mn.addr.HostIf); err != nil {
					fmt.Fprintf(os.Stderr, "usandbox netholder: network %s: %v\n", name, err)
				}
				delete(ns.used, mn.addr.IP)
			case mn.plugged:
				// A member that went: its namespace, and the veth in it,
				// may live on in a sandbox that shares it
				// (--network container:NAME). The veth is deleted before
				// its address is anybody's again (a kernel's 20 ms: not
				// under the lock).
				ns.used[mn.addr.IP] = quarantined
				ns.pending.Add(1)
				go func(ns *netState, hostIf, ip string) {
					if err := ns.bridge.Detach(hostIf); err != nil {
						fmt.Fprintf(os.Stderr, "usandbox netholder: network %s: %v\n", ns.cfg.Name, err)
					}
					ns.pending.Done()
					go h.unquarantine(ns, ip)
				}(ns, mn.addr.HostIf, mn.addr.IP)
			default:
				delete(ns.used, mn.addr.IP)
			}
		}
		m.joins = append(m.joins[:i], m.joins[i+1:]...)
		h.linkPeers(m)
		h.stopIfEmpty(name)
		return
	}
}

// quarantined marks an address whose veth is being deleted.
const quarantined = "\x00quarantined"

// unquarantine frees ip once the veth that had it is gone.
func (h *holder) unquarantine(ns *netState, ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ns.used[ip] == quarantined {
		delete(ns.used, ip)
	}
}

// release undoes a reservation that failed half way.
func (h *holder) release(m *member) {
	for len(m.joins) > 0 {
		h.unplan(m, m.joins[0].net)
	}
}

// drop removes a member, however it went.
func (h *holder) drop(m *member) {
	if m == nil || h.members[m.id] != m {
		return
	}
	delete(h.members, m.id)
	close(m.gone)
	// Its namespace first: its veths go with it (the kernel's work, not
	// an 18 ms detach each under the lock).
	if m.netns != nil {
		m.netns.Close()
		m.netns = nil
	}
	h.release(m)
	m.life.Close()
	h.saveLocked()
}

// watch drops m when its life pidfd fires (the process exited).
func (h *holder) watch(m *member) {
	life, gone := m.life, m.gone
	go func() {
		if !waitPidfd(life, gone) {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.members[m.id] == m && m.life == life {
			h.drop(m)
		}
	}()
}

// waitPidfd waits until the pidfd's process exits (true) or stop closes.
func waitPidfd(f *os.File, stop <-chan struct{}) bool {
	fd := int32(f.Fd())
	for {
		select {
		case <-stop:
			return false
		default:
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: fd, Events: unix.POLLIN}}, 500)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			return true
		}
	}
}

// network returns the running network of cfg, starting it first if it
// has no member yet.
func (h *holder) network(cfg netconf.Network) (*netState, error) {
	if ns, ok := h.nets[cfg.Name]; ok {
		if ns.cfg.ID != cfg.ID {
			return nil, fmt.Errorf("network %s was removed and made again while it had members: try again once they are gone", cfg.Name)
		}
		return ns, nil
	}
	for _, other := range h.nets {
		if overlaps(other.cfg.Subnet, cfg.Subnet) {
			return nil, fmt.Errorf("network %s's subnet %s overlaps network %s's, which runs", cfg.Name, cfg.Subnet, other.cfg.Name)
		}
	}
	ns, err := startNetwork(cfg, h.subnets(cfg))
	if err != nil {
		return nil, fmt.Errorf("starting network %s: %w", cfg.Name, err)
	}
	h.nets[cfg.Name] = ns
	return ns, nil
}

// subnets are the other running networks' subnets, which a network's
// members must not reach.
func (h *holder) subnets(cfg netconf.Network) []*net.IPNet {
	var out []*net.IPNet
	for _, ns := range h.nets {
		if ns.cfg.Name != cfg.Name {
			out = append(out, ns.subnet)
		}
	}
	return out
}

func overlaps(a, b string) bool {
	_, na, err1 := net.ParseCIDR(a)
	_, nb, err2 := net.ParseCIDR(b)
	return err1 == nil && err2 == nil && (na.Contains(nb.IP) || nb.Contains(na.IP))
}

// bridgeName is every network's bridge, each in its own namespace.
const bridgeName = "usb0"

// slirpSubnet is the user-mode stack's, inside each network's namespace.
const slirpSubnet = "10.0.2.0/24"

func startNetwork(cfg netconf.Network, others []*net.IPNet) (_ *netState, err error) {
	gw, subnet, err := net.ParseCIDR(cfg.Subnet)
	if err != nil {
		return nil, err
	}
	if cfg.Gateway != "" {
		gw = net.ParseIP(cfg.Gateway)
	} else {
		gw = nthAddr(subnet, 1)
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = 65520
		cfg.MTU = mtu
	}
	ns := &netState{cfg: cfg, subnet: subnet, gateway: gw, used: map[string]string{}}
	defer func() {
		if err != nil {
			ns.stop()
		}
	}()
	if ns.ns, err = link.NewNetNS(); err != nil {
		return nil, err
	}
	gwAddr, _ := netip.ParseAddr(gw.String())
	ones, _ := subnet.Mask.Size()
	var drop []netip.Prefix
	for _, o := range others {
		if p, err := netip.ParsePrefix(o.String()); err == nil {
			drop = append(drop, p)
		}
	}
	if err := link.SetupBridge(ns.ns, link.BridgeConfig{
		Name: bridgeName, Gateway: netip.PrefixFrom(gwAddr, ones), MTU: mtu,
		Internal: cfg.Internal, Outbound: "tap0", Drop: drop,
	}); err != nil {
		return nil, err
	}
	if ns.bridge, err = link.OpenBridge(ns.ns, bridgeName); err != nil {
		return nil, err
	}
	upstreams, hostLoopback := upstreamsOf(cfg)
	if !cfg.Internal {
		if err := ns.startSlirp(hostLoopback); err != nil {
			return nil, err
		}
	}
	if ns.dialer, err = link.NewDialer(ns.ns); err != nil {
		return nil, err
	}
	ns.dns = dnsd.New(dnsd.Config{Upstreams: upstreams, Internal: cfg.Internal, Dial: ns.dialer.DialContext})
	var udp net.PacketConn
	var tcp net.Listener
	addr := net.JoinHostPort(gw.String(), "53")
	if err := link.Do(ns.ns, func() error {
		var err error
		if udp, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		tcp, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		if udp != nil {
			udp.Close()
		}
		return nil, fmt.Errorf("the resolver on %s: %w", addr, err)
	}
	go ns.dns.Serve(udp, tcp)
	return ns, nil
}

// upstreamsOf are the resolver's upstreams: the network's --dns (a
// loopback address is the host's, reached through the user-mode stack,
// whose host loopback is then on), or the user-mode stack's forwarder.
func upstreamsOf(cfg netconf.Network) (ups []string, hostLoopback bool) {
	for _, d := range cfg.DNS {
		host, port, err := net.SplitHostPort(d)
		if err != nil {
			host, port = d, "53"
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			host, hostLoopback = "10.0.2.2", true
		}
		ups = append(ups, net.JoinHostPort(host, port))
	}
	if len(ups) == 0 {
		ups = []string{"10.0.2.3:53"}
	}
	return ups, hostLoopback
}

// startSlirp runs the network's one user-mode stack in its namespace:
// slirp4netns, in the holder's user namespace and the host's network
// namespace, with its own sandbox and seccomp filter. It ends when the
// holder closes exitW (or dies: then the kernel closes it).
func (ns *netState) startSlirp(hostLoopback bool) error {
	bin, err := exec.LookPath("slirp4netns")
	if err != nil {
		return errors.New("slirp4netns is not installed (sudo apt-get install slirp4netns), or create the network with --internal")
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		exitR.Close()
		exitW.Close()
		return err
	}
	defer readyR.Close()
	args := []string{"--configure", "--mtu=" + strconv.Itoa(ns.cfg.MTU), "--enable-sandbox", "--enable-seccomp",
		"--exit-fd=3", "--ready-fd=4", "--netns-type=path"}
	if !hostLoopback {
		args = append(args, "--disable-host-loopback")
	}
	args = append(args, "/proc/self/fd/5", "tap0")
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{exitR, readyW, ns.ns}
	// Its chatter ("sent tapfd…") is kept only to explain a failure.
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	err = cmd.Start()
	exitR.Close()
	readyW.Close()
	if err != nil {
		exitW.Close()
		return fmt.Errorf("starting slirp4netns: %w", err)
	}
	ns.slirp, ns.exitW = cmd, exitW
	b := make([]byte, 1)
	readyR.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(readyR, b); err != nil {
		return fmt.Errorf("slirp4netns did not become ready: %v: %s", err, out.String())
	}
	return nil
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// allocate picks the lowest free address of the subnet for id.
func (ns *netState) allocate(id string) (net.IP, error) {
	ones, bits := ns.subnet.Mask.Size()
	size := 1 << uint(bits-ones)
	for i := 1; i < size-1; i++ {
		ip := nthAddr(ns.subnet, i)
		if ip.Equal(ns.gateway) {
			continue
		}
		if _, taken := ns.used[ip.String()]; !taken {
			ns.used[ip.String()] = id
			return ip, nil
		}
	}
	return nil, fmt.Errorf("network %s has no free address left in %s", ns.cfg.Name, ns.cfg.Subnet)
}

func nthAddr(n *net.IPNet, i int) net.IP {
	v := binary.BigEndian.Uint32(n.IP.To4()) + uint32(i)
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}

// stop ends a network: its resolver, its user-mode stack, its namespace
// (the members' veths went with theirs).
func (ns *netState) stop() {
	if ns.dns != nil {
		ns.dns.Close()
	}
	if ns.dialer != nil {
		ns.dialer.Close()
	}
	if ns.exitW != nil {
		ns.exitW.Close()
	}
	if ns.slirp != nil {
		done := make(chan struct{})
		go func() { ns.slirp.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			ns.slirp.Process.Kill()
			<-done
		}
	}
	ns.pending.Wait()
	if ns.bridge != nil {
		ns.bridge.Close()
	}
	if ns.ns != nil {
		ns.ns.Close()
	}
}

// stopIfEmpty stops network name once nobody is on it.
func (h *holder) stopIfEmpty(name string) {
	for _, m := range h.members {
		for _, mn := range m.joins {
			if mn.net == name {
				return
			}
		}
	}
	if ns := h.nets[name]; ns != nil {
		delete(h.nets, name)
		ns.stop()
	}
}

func (h *holder) status() Reply {
	by := map[string][]MemberStatus{}
	for _, m := range h.members {
		for _, mn := range m.joins {
			by[mn.net] = append(by[mn.net], MemberStatus{ID: m.id, Name: m.name, Aliases: mn.aliases, Address: mn.addr, Attached: m.attached,
				KeeperPid: m.keeperPid, KeeperStart: m.keeperStart, InitPid: m.initPid, InitStart: m.initStart})
		}
	}
	rep := Reply{Kind: KindOK}
	for name, ms := range by {
		sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
		st := NetworkStatus{Name: name, Members: ms}
		if ns := h.nets[name]; ns != nil {
			st.Config = ns.cfg
		}
		rep.Networks = append(rep.Networks, st)
	}
	sort.Slice(rep.Networks, func(i, j int) bool { return rep.Networks[i].Name < rep.Networks[j].Name })
	return rep
}

// saveLocked writes the members, for inspection by commands that do not
// ask the holder (ps, inspect), atomically.
func (h *holder) saveLocked() {
	b, err := json.MarshalIndent(h.status().Networks, "", " ")
	if err != nil {
		return
	}
	tmp := filepath.Join(h.dir, "."+MembersName)
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		os.Rename(tmp, filepath.Join(h.dir, MembersName))
	}
}

// idle ends the holder once it has had no member for a while: under the
// networks lock, which a client holds from its connect to its
// reservation, so none can come in between.
func (h *holder) idle() {
	for {
		time.Sleep(idleCheck)
		h.mu.Lock()
		empty := len(h.members) == 0
		h.mu.Unlock()
		if !empty {
			continue
		}
		lock, err := lockDir(h.dir)
		if err != nil {
			continue
		}
		h.mu.Lock()
		if len(h.members) == 0 {
			h.exiting = true
			for name, ns := range h.nets {
				delete(h.nets, name)
				ns.stop()
			}
			os.Remove(filepath.Join(h.dir, SocketName))
			os.Remove(filepath.Join(h.dir, StateName))
			os.Remove(filepath.Join(h.dir, MembersName))
			if st, err := os.Stat(filepath.Join(h.dir, LogName)); err == nil && st.Size() == 0 {
				os.Remove(filepath.Join(h.dir, LogName))
			}
			// The lock last: a client that waits for it finds it
			// unlinked once it has it, and takes the new one (lockDir).
			os.Remove(filepath.Join(h.dir, LockName))
			os.Remove(h.dir) // empty unless a log tells of trouble
			// Main returns: the holder exits with the lock, and with
			// h.mu, held (a request that came in meanwhile is not
			// answered; its client finds the socket gone and starts a
			// new holder).
			h.exited.Store(true)
			h.l.Close()
			return
		}
		h.mu.Unlock()
		lock.Close()
	}
}

// idleCheck is how often an idle holder looks whether it may go.
const idleCheck = 300 * time.Millisecond

// The files in the state directory.
const (
	SocketName  = "holder.sock"
	StateName   = "holder.json"
	MembersName = "members.json"
	LockName    = "lock"
	LogName     = "holder.log"
)
