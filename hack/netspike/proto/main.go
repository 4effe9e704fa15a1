// netspike: Go prototypes for the network design spike (issue 13). Not
// part of usandbox. Every subcommand runs already inside the namespaces it
// needs (nsenter/nsmk put it there): a Go program cannot setns into a user
// namespace itself.
//
//	netspike attach NETNS_PATH N      in the holder's user+net namespace:
//	                                  N times, create a veth pair with its peer
//	                                  in the member's netns (by fd), enslave,
//	                                  up, address + route inside the member,
//	                                  delete; print the median per attach
//	netspike dns ADDR MEMBERS UPSTREAM the network's resolver on ADDR (host:port):
//	                                  A records from MEMBERS ("name ip" a
//	                                  line, re-read when its mtime changes),
//	                                  everything else forwarded to UPSTREAM
//	                                  (host:port; 10.0.2.3:53 is slirp's)
//	netspike lookup SERVER NAME N     N queries, print median and p99
//	netspike ports DIR HP CP PID      rootlesskit's builtin port driver, child
//	                                  in member PID's namespaces (ports.go)
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netspike attach|dns|lookup ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "attach":
		n, _ := strconv.Atoi(os.Args[3])
		err = attach(os.Args[2], n)
	case "dns":
		err = serve(os.Args[2], os.Args[3], os.Args[4])
	case "lookup":
		n, _ := strconv.Atoi(os.Args[4])
		err = lookup(os.Args[2], os.Args[3], n)
	case "ports":
		err = ports(os.Args[2], os.Args[3], os.Args[4], os.Args[5])
	case "portchild":
		err = portchild(os.Args[2])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netspike:", err)
		os.Exit(1)
	}
}

func median(d []time.Duration) (time.Duration, time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[len(d)*99/100]
}

func attach(nsPath string, n int) error {
	runtime.LockOSThread()
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return err
	}
	inside, err := netlink.NewHandleAt(target)
	if err != nil {
		return fmt.Errorf("netlink handle in the member: %w", err)
	}
	br, err := netlink.LinkByName("br0")
	if err != nil {
		return err
	}
	var times []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		v := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("vx%d", i), MTU: 65520, MasterIndex: br.Attrs().Index},
			PeerName:  "eth1", PeerNamespace: netlink.NsFd(target), PeerMTU: 65520,
		}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
		if err := netlink.LinkSetUp(v); err != nil {
			return err
		}
		peer, err := inside.LinkByName("eth1")
		if err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.89.0.200/24")
		if err := inside.AddrAdd(peer, addr); err != nil {
			return err
		}
		if err := inside.LinkSetUp(peer); err != nil {
			return err
		}
		times = append(times, time.Since(t0))
		if err := netlink.LinkDel(v); err != nil {
			return err
		}
	}
	m, p := median(times)
	fmt.Printf("attach by netlink (veth into member netns by fd, master, up, addr, up): median %v p99 %v over %d\n", m, p, n)
	return nil
}

type zone struct {
	path  string
	mu    sync.Mutex
	mtime time.Time
	names map[string]net.IP
}

// lookup re-reads the members file when it changed: one stat per query.
func (z *zone) lookup(name string) (net.IP, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if st, err := os.Stat(z.path); err == nil && !st.ModTime().Equal(z.mtime) {
		z.mtime = st.ModTime()
		z.names = map[string]net.IP{}
		f, err := os.Open(z.path)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				fs := strings.Fields(sc.Text())
				if len(fs) == 2 {
					z.names[dns.Fqdn(fs[0])] = net.ParseIP(fs[1])
				}
			}
			f.Close()
		}
	}
	ip, ok := z.names[strings.ToLower(name)]
	return ip, ok
}

func serve(addr, members, upstream string) error {
	z := &zone{path: members}
	fwd := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if len(r.Question) == 1 {
			q := r.Question[0]
			if ip, ok := z.lookup(q.Name); ok {
				m := new(dns.Msg)
				m.SetReply(r)
				m.Authoritative = true
				if q.Qtype == dns.TypeA && ip.To4() != nil {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: ip})
				}
				w.WriteMsg(m)
				return
			}
		}
		in, _, err := fwd.Exchange(r, upstream)
		if err != nil {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeServerFailure)
			w.WriteMsg(m)
			return
		}
		w.WriteMsg(in)
	})
	errc := make(chan error, 2)
	for _, netw := range []string{"udp", "tcp"} {
		s := &dns.Server{Addr: addr, Net: netw, Handler: h}
		go func() { errc <- s.ListenAndServe() }()
	}
	fmt.Println("resolver on", addr)
	return <-errc
}

func lookup(server, name string, n int) error {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	var times []time.Duration
	var last string
	for i := 0; i < n; i++ {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		t0 := time.Now()
		r, _, err := c.Exchange(m, server)
		d := time.Since(t0)
		if err != nil {
			return err
		}
		times = append(times, d)
		last = dns.RcodeToString[r.Rcode]
		if len(r.Answer) > 0 {
			last += " " + r.Answer[0].(*dns.A).A.String()
		}
	}
	md, p := median(times)
	fmt.Printf("lookup %s: %s; median %v p99 %v over %d\n", name, last, md, p, n)
	return nil
}
