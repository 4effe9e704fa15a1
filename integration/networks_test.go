//go:build integration

package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// serverScript serves "hello from NAME" over HTTP on 8080 and echoes UDP
// datagrams on 9000 (prefixed "udp:", hack/attack's udpecho at
// /attack), for members of a network.
func serverScript(name string) string {
	return `mkdir -p /www && echo "hello from ` + name + `" > /www/index.html && httpd -p 8080 -h /www && exec /attack udpecho 9000`
}

// memberIP is sandbox name's address on network net, as inspect says.
func (s *store) memberIP(name, net string) string {
	s.t.Helper()
	ip := strings.TrimSpace(s.ok("inspect", "--format", "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}", name))
	if ip == "" || ip == "<no value>" || ip == "invalid IP" {
		s.t.Fatalf("sandbox %s has no address on %s: %q", name, net, ip)
	}
	return ip
}

// netRunDir is the store's networks runtime directory.
func (s *store) netRunDir() string { return filepath.Join(s.runroot, "networks") }

// holderPid is the pid of the store's network holder, 0 if none runs.
func (s *store) holderPid() int {
	b, err := os.ReadFile(filepath.Join(s.netRunDir(), "holder.json"))
	if err != nil {
		return 0
	}
	i := strings.Index(string(b), `"pid":`)
	if i < 0 {
		return 0
	}
	rest := string(b[i+6:])
	end := strings.IndexAny(rest, ",}")
	pid, _ := strconv.Atoi(strings.TrimSpace(rest[:end]))
	if pid > 0 && !alive(pid) {
		return 0
	}
	return pid
}

// alive: pid runs (a zombie does not: this machine's pid 1 reaps none).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// assertNoNetworkLeft checks that no holder runs and nothing of the
// networks' runtime is left (socket, state, members), within a few
// seconds (the holder goes once it has been idle a moment).
func (s *store) assertNoNetworkLeft() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pid := s.holderPid()
		ents, _ := os.ReadDir(s.netRunDir())
		var left []string
		for _, e := range ents {
			if e.Name() != "lock" {
				left = append(left, e.Name())
			}
		}
		if pid == 0 && len(left) == 0 && !holderRunning(s.netRunDir()) {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.netRunDir(), "holder.log"))
			s.t.Fatalf("networks left behind: holder pid %d, files %v\nholder.log:\n%s", pid, left, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// holderRunning looks for a holder of dir among our processes (the
// holder's argv names its state directory).
func holderRunning(dir string) bool {
	for _, pid := range ourProcesses() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(b), "usandbox-netholder\x00"+dir) && alive(pid) {
			return true
		}
	}
	return false
}

func TestNetworksMembers(t *testing.T) {
	s := withImages(t, false)
	s.ok("network", "create", "app")
	attack := "-v=" + attackBin(t) + ":/attack:ro"
	port := freePort(t)
	s.ok("run", "-d", "--name", "srv", "--network", "app", "--network-alias", "db", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), attack, "busybox", "sh", "-c", serverScript("srv"))
	ip := s.memberIP("srv", "app")
	if out := s.ok("ps", "--format", "{{.Names}} {{.Networks}}"); out != "srv app\n" {
		t.Errorf("ps .Networks: %q", out)
	}
	// -p on a member, as on a slirp4netns sandbox.
	if out := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); out != "hello from srv\n" {
		t.Errorf("published port of a member: %q", out)
	}
	for _, target := range []string{"srv", "db", ip, sandboxShortID(s, "srv")} {
		out := s.ok("run", "--rm", "--network", "app", "busybox", "timeout", "5", "wget", "-q", "-O-", "http://"+target+":8080/")
		if out != "hello from srv\n" {
			t.Errorf("TCP to %s: %q", target, out)
		}
	}
	// UDP, by name.
	out := s.ok("run", "--rm", "--network", "app", attack, "busybox", "/attack", "udpask", "srv:9000", "ping")
	if !strings.Contains(out, "udp:ping") {
		t.Errorf("UDP to srv: %q", out)
	}
	// The client sees the resolver and its own line in /etc/hosts.
	out = s.ok("run", "--rm", "--name", "cli", "--network", "app", "busybox", "sh", "-c", "cat /etc/resolv.conf; grep cli /etc/hosts")
	if !strings.HasPrefix(out, "nameserver 10.89.") || !strings.Contains(out, "10.89.") {
		t.Errorf("resolv.conf/hosts of a member: %q", out)
	}

	t.Run("container", func(t *testing.T) {
		s := s.with(t)
		out := s.ok("run", "--rm", "--network", "container:srv", "busybox", "timeout", "5", "wget", "-q", "-O-", "http://127.0.0.1:8080/")
		if out != "hello from srv\n" {
			t.Errorf("container:srv to its loopback: %q", out)
		}
	})

	t.Run("container owner gone", func(t *testing.T) {
		// A sandbox that shares a member's namespaces loses the network
		// with the member: its address is not left to it when the next
		// member gets it.
		s := s.with(t)
		s.ok("run", "-d", "--name", "owner", "--network", "app", "busybox", "sleep", "600")
		s.ok("run", "-d", "--name", "joiner", "--network", "container:owner", "busybox", "sleep", "600")
		addr := s.memberIP("owner", "app")
		if out := s.ok("exec", "joiner", "ip", "-4", "addr"); !strings.Contains(out, addr) {
			t.Fatalf("the joiner does not have the owner's address: %q", out)
		}
		s.ok("rm", "-f", "owner")
		waitFor(t, "the joiner to lose the owner's address", func() bool {
			return !strings.Contains(s.ok("exec", "joiner", "ip", "-4", "addr"), addr)
		})
		s.ok("rm", "-f", "joiner")
	})

	t.Run("isolation", func(t *testing.T) {
		s := s.with(t)
		s.ok("network", "create", "other")
		// Another network's member, a default-network sandbox, none.
		for _, netw := range []string{"other", "slirp4netns", "none"} {
			r := s.run("run", "--rm", "--network", netw, "busybox", "timeout", "2", "wget", "-q", "-O-", "http://"+ip+":8080/")
			if r.code == 0 || strings.Contains(r.stdout, "hello") {
				t.Errorf("--network %s reached a member of app: %+v", netw, r)
			}
		}
		// A member that takes another address of the subnet (its root
		// may) gets nothing through: the bridge's port guard.
		out := s.ok("run", "--rm", "--network", "app", "--cap-add", "NET_ADMIN", "busybox", "sh", "-c",
			"ping -c1 -W2 "+ip+" >/dev/null && echo own-ok; ip addr add 10.89.0.200/24 dev eth0 && ping -c1 -W2 -I 10.89.0.200 "+ip+" >/dev/null && echo SPOOF-REACHED; true")
		if !strings.Contains(out, "own-ok") || strings.Contains(out, "SPOOF-REACHED") {
			t.Errorf("address spoofing on the bridge: %q", out)
		}
		r := s.run("run", "--rm", "--network", "other", "busybox", "nslookup", "-type=a", "srv")
		if strings.Contains(r.stdout, ip) {
			t.Errorf("srv resolves on another network: %q", r.stdout)
		}
	})

	t.Run("connect", func(t *testing.T) {
		s := s.with(t)
		s.ok("network", "create", "side")
		s.ok("run", "-d", "--name", "late", "--network", "side", "busybox", "sleep", "600")
		r := s.run("exec", "late", "timeout", "2", "wget", "-q", "-O-", "http://"+ip+":8080/")
		if r.code == 0 {
			t.Fatalf("late reached app before it was connected: %+v", r)
		}
		s.ok("network", "connect", "--alias", "latecomer", "app", "late")
		out := s.ok("exec", "late", "timeout", "5", "wget", "-q", "-O-", "http://srv:8080/")
		if out != "hello from srv\n" {
			t.Errorf("after connect: %q", out)
		}
		out = s.ok("exec", "srv", "nslookup", "-type=a", "latecomer")
		if !strings.Contains(out, "Address: 10.89.") {
			t.Errorf("the alias given by connect does not resolve: %q", out)
		}
		s.ok("network", "disconnect", "app", "late")
		if r := s.run("exec", "late", "timeout", "2", "wget", "-q", "-O-", "http://"+ip+":8080/"); r.code == 0 {
			t.Errorf("late still reaches app after disconnect: %+v", r)
		}
		s.ok("rm", "-f", "late")
	})

	// A name stops resolving when its sandbox goes.
	s.ok("rm", "-f", "srv")
	r := s.run("run", "--rm", "--network", "app", "busybox", "nslookup", "-type=a", "srv")
	if strings.Contains(r.stdout, ip) {
		t.Errorf("srv still resolves after rm: %q", r.stdout)
	}
	s.ok("network", "rm", "app", "other", "side")
	s.assertNoNetworkLeft()
	s.assertNoSandboxes()
}

// sandboxShortID is the 12-digit ID of sandbox name.
func sandboxShortID(s *store, name string) string {
	return strings.TrimSpace(s.ok("inspect", "--format", "{{.Id}}", name))[:12]
}

// TestNetworksDNSForward: names that are not members' go to the
// network's upstream, here a resolver the test runs on the host's
// loopback (no outside network).
func TestNetworksDNSForward(t *testing.T) {
	s := withImages(t, false)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Name == "hostonly.test." && q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR("hostonly.test. 60 IN A 192.0.2.99")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	s.ok("network", "create", "--dns", pc.LocalAddr().String(), "fwd")
	out := s.ok("run", "--rm", "--network", "fwd", "busybox", "nslookup", "-type=a", "hostonly.test")
	if !strings.Contains(out, "192.0.2.99") {
		t.Fatalf("forwarded lookup: %q", out)
	}
	// --internal: no outbound route, no forwarding.
	s.ok("network", "create", "--internal", "--dns", pc.LocalAddr().String(), "closed")
	r := s.run("run", "--rm", "--network", "closed", "busybox", "sh", "-c", "nslookup -type=a hostonly.test; ip route")
	if strings.Contains(r.stdout, "192.0.2.99") || strings.Contains(r.stdout, "default") {
		t.Fatalf("an internal network forwards or routes out: %q", r.stdout)
	}
	s.ok("network", "rm", "fwd", "closed")
	s.assertNoNetworkLeft()
}

// TestNetworksKill9: kill -9 of a member, of the holder, and of run in
// the middle of a join; then network rm works and nothing is left.
func TestNetworksKill9(t *testing.T) {
	s := withImages(t, false)
	s.ok("network", "create", "k9")
	s.ok("run", "-d", "--name", "m1", "--network", "k9", "busybox", "sleep", "600")
	s.ok("run", "-d", "--name", "m2", "--network", "k9", "busybox", "sleep", "600")
	pid := s.holderPid()
	if pid == 0 {
		t.Fatal("no holder runs while the network has members")
	}

	// A member: its init killed; the network goes on for the other.
	init := strings.TrimSpace(s.ok("inspect", "--format", "{{.State.Pid}}", "m1"))
	n, _ := strconv.Atoi(init)
	syscall.Kill(n, syscall.SIGKILL)
	waitFor(t, "m1 to stop", func() bool { return !strings.Contains(s.ok("ps", "--format", "{{.Names}}"), "m1") })
	if s.holderPid() != pid {
		t.Fatal("the holder went with one member of two")
	}
	out := s.ok("run", "--rm", "--network", "k9", "busybox", "ping", "-c", "1", "-W", "2", "m2")
	if !strings.Contains(out, "1 packets received") {
		t.Errorf("the network does not work after a member was killed: %q", out)
	}

	// run, killed at some point of its join (and of its start).
	for _, ms := range []int{5, 15, 30, 60, 100, 200} {
		c := s.cmd("run", "--rm", "--network", "k9", "busybox", "sleep", "600")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
	}
	// Their reservations went: the addresses are free again, a new
	// member gets the lowest one after m2's.
	waitFor(t, "the killed runs' sandboxes to go", func() bool {
		return strings.Count(s.ok("ps", "--format", "{{.Names}}"), "\n") == 1
	})

	// The holder: the members lose the network until the next join,
	// whose new holder adopts them (their old addresses, names and
	// resolver).
	ip2 := s.memberIP("m2", "k9")
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "m2 to lose its network", func() bool {
		return !strings.Contains(s.ok("exec", "m2", "ip", "-4", "addr"), ip2)
	})
	out = s.ok("run", "--rm", "--network", "k9", "busybox", "sh", "-c", "ping -c1 -W2 m2; nslookup -type=a m2")
	if !strings.Contains(out, "1 packets received") || !strings.Contains(out, "Address: "+ip2) {
		t.Errorf("a killed holder's member was not adopted by the next one: %q", out)
	}
	if s.holderPid() == pid || s.holderPid() == 0 {
		t.Fatal("no new holder")
	}
	if out := s.ok("exec", "m2", "nslookup", "-type=a", "m2"); !strings.Contains(out, "Address: "+ip2) {
		t.Errorf("the adopted member's own resolver: %q", out)
	}
	// Killed again; now rm -f of the network removes the members and
	// nothing is left.
	syscall.Kill(s.holderPid(), syscall.SIGKILL)
	s.fails(2, "is being used", "network", "rm", "k9")
	s.ok("network", "rm", "-f", "k9")
	s.assertNoNetworkLeft()
	s.assertNoSandboxes()
	if out := s.ok("network", "ls", "--format", "{{.Name}}"); strings.Contains(out, "k9") {
		t.Errorf("network ls after rm: %q", out)
	}
}

// TestNetworksBadInput: one line, podman's exit code, nothing changed.
func TestNetworksBadInput(t *testing.T) {
	s := withImages(t, false)
	s.fails(125, "network not found", "run", "--rm", "--network", "nosuch", "busybox", "true")
	s.fails(125, "sandbox", "run", "--rm", "--network", "container:nosuch", "busybox", "true")
	s.ok("network", "create", "--subnet", "10.99.0.0/24", "taken")
	s.fails(125, "invalid network alias", "run", "--rm", "--network", "taken", "--network-alias", "a..b", "busybox", "true")
	s.fails(125, "already exists", "network", "create", "taken")
	s.fails(125, "overlap", "network", "create", "--subnet", "10.99.0.0/16", "over")
	s.ok("run", "-d", "--name", "user", "--network", "taken", "busybox", "sleep", "600")
	s.fails(2, "is being used", "network", "rm", "taken")
	if out := s.ok("run", "--rm", "--network", "taken", "busybox", "ping", "-c", "1", "-W", "2", "user"); !strings.Contains(out, "1 packets received") {
		t.Errorf("the network changed after a refused rm: %q", out)
	}
	s.fails(125, "no such sandbox", "network", "disconnect", "taken", "nosuch-sandbox")
	s.ok("run", "-d", "--name", "plain", "--network", "none", "busybox", "sleep", "600")
	s.fails(125, "not created on a network", "network", "connect", "taken", "plain")
	s.ok("rm", "-f", "user", "plain")
	s.ok("network", "rm", "taken")
	s.assertNoNetworkLeft()
	s.assertNoSandboxes()
}

// TestNetworksSharedAlias: two members with one alias (a scaled compose
// service) are both its answer, and the last one left keeps it.
func TestNetworksSharedAlias(t *testing.T) {
	s := withImages(t, false)
	s.ok("network", "create", "svc")
	s.ok("run", "-d", "--name", "web1", "--network", "svc", "--network-alias", "web", "busybox", "sleep", "600")
	s.ok("run", "-d", "--name", "web2", "--network", "svc", "--network-alias", "web", "busybox", "sleep", "600")
	ip1, ip2 := s.memberIP("web1", "svc"), s.memberIP("web2", "svc")
	out := s.ok("run", "--rm", "--network", "svc", "busybox", "nslookup", "-type=a", "web")
	if !strings.Contains(out, "Address: "+ip1) || !strings.Contains(out, "Address: "+ip2) {
		t.Fatalf("the shared alias answers %q, want %s and %s", out, ip1, ip2)
	}
	s.ok("rm", "-f", "web1")
	out = s.ok("run", "--rm", "--network", "svc", "busybox", "nslookup", "-type=a", "web")
	if strings.Contains(out, "Address: "+ip1) || !strings.Contains(out, "Address: "+ip2) {
		t.Fatalf("after web1 went, web answers %q, want only %s", out, ip2)
	}
	s.ok("rm", "-f", "web2")
	s.ok("network", "rm", "svc")
	s.assertNoNetworkLeft()
}
