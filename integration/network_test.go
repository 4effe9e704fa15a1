//go:build integration

package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostIP is this machine's non-loopback address (the default route's).
func hostIP(t *testing.T) string {
	t.Helper()
	c, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		t.Fatalf("no default route: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// serve starts an HTTP server on addr (IP:0) answering "hello from the host".
func serve(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the host")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestNetworkOutbound(t *testing.T) {
	s := withImages(t, false)
	addr := serve(t, hostIP(t))
	for _, netw := range []string{"", "slirp4netns", "slirp4netns:mtu=1500,cidr=10.0.3.0/24", "pasta",
		"slirp4netns:bypass=true", "slirp4netns:mtu=1500,cidr=10.0.3.0/24,bypass=true", "pasta:bypass=true"} {
		t.Run("network="+netw, func(t *testing.T) {
			args := []string{"run", "--rm"}
			if netw != "" {
				args = append(args, "--network", netw)
			}
			out := s.ok(append(args, "busybox", "sh", "-c", "wget -q -O- http://"+addr+"/; echo; cat /sys/class/net/tap0/mtu; grep -c host.containers.internal /etc/hosts; hostname -i")...)
			lines := strings.Split(out, "\n")
			if len(lines) < 4 || lines[0] != "hello from the host" || lines[2] != "1" {
				t.Fatalf("got %q", out)
			}
			wantMTU := "65520"
			if strings.Contains(netw, "mtu=1500") {
				wantMTU = "1500"
			}
			if lines[1] != wantMTU {
				t.Errorf("mtu %s, want %s", lines[1], wantMTU)
			}
			// The sandbox's name resolves (/etc/hosts) to its own address.
			wantIP := "10.0.2.100"
			if strings.Contains(netw, "cidr=10.0.3.0/24") {
				wantIP = "10.0.3.100"
			}
			if lines[3] != wantIP {
				t.Errorf("hostname -i: %q, want %s", lines[3], wantIP)
			}
		})
	}
	s.assertNoSandboxes()
}

func TestNetworkHostLoopback(t *testing.T) {
	s := withImages(t, true)
	_, port, _ := net.SplitHostPort(serve(t, "127.0.0.1"))
	// bash's /dev/tcp: a plain connect to the host's loopback through the gateway.
	script := `exec 3<>/dev/tcp/10.0.2.2/` + port + ` || exit 9; printf 'GET / HTTP/1.0\r\n\r\n' >&3; tail -n 1 <&3`
	for _, netw := range []string{"slirp4netns:", "slirp4netns:bypass=true,"} {
		r := s.run("run", "--rm", "--network", netw, "debian:bookworm", "timeout", "5", "bash", "-c", script)
		if r.code == 0 || strings.Contains(r.stdout, "hello") {
			t.Fatalf("--network %s: the host's loopback is reachable by default: %+v", netw, r)
		}
		out := s.ok("run", "--rm", "--network", netw+"allow_host_loopback=true", "debian:bookworm", "timeout", "5", "bash", "-c", script)
		if out != "hello from the host" {
			t.Fatalf("--network %s with allow_host_loopback: %q", netw, out)
		}
	}
}

func TestNetworkDNS(t *testing.T) {
	s := withImages(t, false)
	// By default the sandbox asks the driver's forwarder (which asks the
	// host's servers: not something a test here may rely on).
	for _, netw := range []string{"slirp4netns", "pasta", "slirp4netns:bypass=true", "pasta:bypass=true"} {
		if out := s.ok("run", "--rm", "--network", netw, "busybox", "cat", "/etc/resolv.conf"); out != "nameserver 10.0.2.3\n" {
			t.Errorf("--network %s: resolv.conf %q, want the forwarder 10.0.2.3", netw, out)
		}
	}
	// --dns replaces it, with any network.
	for _, netw := range []string{"slirp4netns", "none", "host"} {
		out := s.ok("run", "--rm", "--network", netw, "--dns", "192.0.2.1", "--dns", "2001:db8::1", "busybox", "cat", "/etc/resolv.conf")
		if out != "nameserver 192.0.2.1\nnameserver 2001:db8::1\n" {
			t.Errorf("--network %s --dns: resolv.conf %q", netw, out)
		}
	}
	s.fails(125, "invalid --dns", "run", "--rm", "--dns", "example.com", "busybox", "true")

	t.Run("local resolver", func(t *testing.T) {
		// A dnsmasq that only knows usandbox-test.internal (port 53 needs
		// root, so hack/integration.sh starts it before it drops to the
		// test user).
		dns := os.Getenv("USANDBOX_TEST_DNS")
		if dns == "" {
			t.Skip("USANDBOX_TEST_DNS is unset: no local resolver (hack/integration.sh starts one when run as root)")
		}
		s := s.with(t)
		r := s.run("run", "--rm", "--network", "host", "--dns", dns, "busybox", "sh", "-c",
			"cat /etc/resolv.conf; nslookup -type=a usandbox-test.internal; nslookup -type=a nosuch.usandbox-test.invalid >/dev/null 2>&1 && echo UNKNOWN-RESOLVED; true")
		if !strings.HasPrefix(r.stdout, "nameserver "+dns+"\n") || !regexp.MustCompile(`(?m)^Address: 192\.0\.2\.53$`).MatchString(r.stdout) ||
			strings.Contains(r.stdout, "UNKNOWN-RESOLVED") {
			t.Fatalf("DNS through %s inside: %q %q", dns, r.stdout, r.stderr)
		}
	})
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func get(t *testing.T, url string) string {
	t.Helper()
	var last error
	for i := 0; i < 50; i++ {
		resp, err := http.Get(url)
		if err == nil {
			b := new(strings.Builder)
			_, err = fmt.Fprint(b, "")
			buf := make([]byte, 4096)
			n, _ := resp.Body.Read(buf)
			resp.Body.Close()
			return string(buf[:n])
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func TestPublishedPorts(t *testing.T) {
	s := withImages(t, true)
	for _, netw := range []string{"slirp4netns", "slirp4netns:bypass=true", "pasta:bypass=true"} {
		t.Run(netw, func(t *testing.T) { publishedPorts(t, s.with(t), netw) })
	}
	s.assertNoSandboxes()
}

func publishedPorts(t *testing.T, s *store, netw string) {
	www := t.TempDir()
	os.MkdirAll(filepath.Join(www, "cgi-bin"), 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("served from the sandbox\n"), 0o644)
	os.WriteFile(filepath.Join(www, "cgi-bin", "ip"), []byte("#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"remote=$REMOTE_ADDR\"\n"), 0o755)
	os.Chmod(www, 0o755)
	fixed := freePort(t)
	id := strings.TrimSpace(s.ok("run", "-d", "--network", netw, "-p", fmt.Sprintf("%d:80", fixed), "-p", "80", "-v", www+":/www:ro",
		"busybox", "httpd", "-f", "-p", "80", "-h", "/www"))
	ip := hostIP(t)
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", fixed)); body != "served from the sandbox\n" {
		t.Fatalf("published port: %q", body)
	}
	// The client's source address reaches the server inside (TCP).
	if body := get(t, fmt.Sprintf("http://%s:%d/cgi-bin/ip", ip, fixed)); !strings.Contains(body, ip) {
		t.Fatalf("source IP not kept: %q (client %s)", body, ip)
	}
	// -p 80 picked a free host port; port, ps and inspect show it.
	out := s.ok("port", id)
	m := regexp.MustCompile(`(?m)^80/tcp -> 0\.0\.0\.0:(\d+)$`).FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		t.Fatalf("port: %q", out)
	}
	auto := m[1][1]
	if auto == strconv.Itoa(fixed) {
		auto = m[0][1]
	}
	if body := get(t, "http://127.0.0.1:"+auto+"/"); body != "served from the sandbox\n" {
		t.Fatalf("picked port %s: %q", auto, body)
	}
	if ps := s.ok("ps"); !strings.Contains(ps, "0.0.0.0:"+auto+"->80/tcp") {
		t.Fatalf("ps does not show the picked port:\n%s", ps)
	}
	if !strings.Contains(s.ok("inspect", id), `"HostPort": "`+auto+`"`) {
		t.Fatal("inspect does not show the picked port")
	}
	s.ok("rm", "-f", id)

	// UDP round trip through a published port.
	uport := freePort(t)
	id = strings.TrimSpace(s.ok("run", "-d", "--network", netw, "-p", fmt.Sprintf("%d:9999/udp", uport), "debian:bookworm", "perl", "-MIO::Socket::INET", "-e",
		`$s=IO::Socket::INET->new(LocalPort=>9999,Proto=>q(udp)) or die $!; while($s->recv($m,1024)){$s->send(qq(echo:$m))}`))
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", uport))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	var got string
	for i := 0; i < 50 && got == ""; i++ {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			got = string(buf[:n])
		}
	}
	if got != "echo:ping" {
		t.Fatalf("UDP round trip: %q", got)
	}
	s.ok("rm", "-f", id)

}

func TestNetworkBadInput(t *testing.T) {
	s := withImages(t, false)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	s.fails(125, "already in use", "run", "--rm", "-p", fmt.Sprintf("%d:80", taken), "busybox", "true")
	s.fails(125, "already in use", "run", "-d", "-p", fmt.Sprintf("%d:80", taken), "busybox", "sleep", "10")
	s.fails(125, "invalid -p", "run", "--rm", "-p", "99999", "busybox", "true")
	s.fails(125, "unknown --network", "run", "--rm", "--network", "bad/name", "busybox", "true")
	s.fails(125, "network not found", "run", "--rm", "--network", "nosuch", "busybox", "true")
	s.fails(125, "bypass must be true or false", "run", "--rm", "--network", "slirp4netns:bypass=maybe", "busybox", "true")
	// podman discards -p without a user-mode network, and runs.
	if r := s.run("run", "--rm", "--network", "none", "-p", "80", "busybox", "true"); r.code != 0 || !strings.Contains(r.stderr, "Port mappings have been discarded") {
		t.Fatalf("-p with --network none: exit %d, stderr %q", r.code, r.stderr)
	}
	// A missing tool names its package: a PATH with only the ID mappers.
	bin := t.TempDir()
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		os.Symlink("/usr/bin/"+tool, filepath.Join(bin, tool))
	}
	c := s.cmd("run", "--rm", "--network", "slirp4netns", "busybox", "true")
	c.Env = append(os.Environ(), "PATH="+bin)
	out, _ := c.CombinedOutput()
	if !strings.Contains(string(out), "sudo apt-get install slirp4netns") {
		t.Fatalf("missing slirp4netns: %q", out)
	}
	c = s.cmd("run", "--rm", "--network", "pasta", "busybox", "true")
	c.Env = append(os.Environ(), "PATH="+bin)
	if out, _ := c.CombinedOutput(); !strings.Contains(string(out), "sudo apt-get install passt") {
		t.Fatalf("missing pasta: %q", out)
	}
	if s.ok("ps", "-a", "-q") != "" {
		t.Fatal("bad input left a sandbox")
	}
	s.assertNoSandboxes()
	assertNoHelpers(t)
}

// assertNoHelpers fails if a network helper of ours still runs.
func assertNoHelpers(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := networkHelpers()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("network helpers left running: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// networkHelpers lists the network helpers of ours (see ourProcesses).
// usandbox starts slirp4netns and pasta by their full path: match the base
// name of argv[0].
func networkHelpers() []string {
	var out []string
	for _, pid := range ourProcesses() {
		argv := strings.Split(cmdline(pid), "\x00")
		switch filepath.Base(argv[0]) {
		case "slirp4netns", "pasta", "passt", "usandbox-ports":
			out = append(out, strconv.Itoa(pid)+" "+strings.Join(argv, " "))
		}
	}
	return out
}

func TestNetworkManyLeaveNoHelper(t *testing.T) {
	s := withImages(t, false)
	for i := 0; i < 20; i++ {
		netw := []string{"slirp4netns", "pasta", "slirp4netns:bypass=true", "pasta:bypass=true"}[i%4]
		s.ok("run", "--rm", "--network", netw, "-p", "80", "busybox", "true")
	}
	assertNoHelpers(t)
	s.assertNoSandboxes()
	// And after SIGKILL of usandbox.
	c := s.cmd("run", "--rm", "-p", "80", "busybox", "sh", "-c", "echo ready >&2; exec sleep 1234")
	_, done := startUntil(t, c, "ready")
	c.Process.Kill()
	<-done
	assertNoHelpers(t)
	waitFor(t, "the sandbox to go", func() bool { return sleepers() == 0 })
}
