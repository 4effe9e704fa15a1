//go:build integration

package integration

// The configuration side of user-defined networks (network create, ls,
// inspect, rm, prune, exists): what they print, their exit statuses,
// one-line errors, nothing left behind by a refusal; and the same lines
// through podman 4.3 where the two agree. (Sandboxes on a network come
// with run --network: their tests are with it.)

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// networkFiles are the names in the store's network directory.
func (s *store) networkFiles() []string {
	s.t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.root, "networks"))
	if err != nil && !os.IsNotExist(err) {
		s.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// inspectNetwork is network inspect's one object, decoded as a map (the
// keys are what is checked).
func inspectNetwork(t *testing.T, out string) map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		t.Fatalf("network inspect: %v, %d objects\n%s", err, len(v), out)
	}
	return v[0]
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func TestNetworkConfig(t *testing.T) {
	s := newStore(t)
	// The default network is there from the first use.
	out := s.ok("network", "ls")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "NETWORK ID    NAME        DRIVER" || !strings.HasSuffix(lines[1], "  bridge      bridge") {
		t.Fatalf("network ls of a new store:\n%s", out)
	}
	bridge := inspectNetwork(t, s.ok("network", "inspect", "bridge"))
	if id, _ := bridge["id"].(string); len(id) != 64 || !strings.HasPrefix(lines[1], id[:12]+"  ") {
		t.Errorf("bridge's ID %q, ls %q", bridge["id"], lines[1])
	}
	if sub := bridge["subnets"].([]any)[0].(map[string]any); sub["subnet"] != "10.88.0.0/16" || sub["gateway"] != "10.88.0.1" {
		t.Errorf("bridge's subnet: %v", sub)
	}

	if got := s.ok("network", "create", "n1"); got != "n1\n" {
		t.Errorf("create n1 printed %q", got)
	}
	n1 := inspectNetwork(t, s.ok("network", "inspect", "n1"))
	want := []string{"created", "dns_enabled", "driver", "id", "internal", "ipam_options", "ipv6_enabled", "name", "network_interface", "subnets"}
	if !slices.Equal(keys(n1), want) {
		t.Errorf("inspect n1's keys %q, want %q", keys(n1), want)
	}
	if sub := n1["subnets"].([]any)[0].(map[string]any); sub["subnet"] != "10.89.0.0/24" || sub["gateway"] != "10.89.0.1" ||
		n1["driver"] != "bridge" || n1["internal"] != false || n1["ipv6_enabled"] != false {
		t.Errorf("inspect n1: %v", n1)
	}
	s.ok("network", "create", "--subnet", "10.90.0.0/24", "--gateway", "10.90.0.254", "--internal",
		"--label", "app=web", "-o", "mtu=1500", "--dns", "127.0.0.1:5353", "n2")
	n2 := inspectNetwork(t, s.ok("network", "inspect", "n2"))
	if sub := n2["subnets"].([]any)[0].(map[string]any); sub["subnet"] != "10.90.0.0/24" || sub["gateway"] != "10.90.0.254" ||
		n2["internal"] != true || n2["labels"].(map[string]any)["app"] != "web" || n2["options"].(map[string]any)["mtu"] != "1500" ||
		n2["network_dns_servers"].([]any)[0] != "127.0.0.1:5353" {
		t.Errorf("inspect n2: %v", n2)
	}
	if got := s.ok("network", "inspect", "--format", "{{.Name}} {{.Internal}}", "n1", "n2"); got != "n1 false\nn2 true\n" {
		t.Errorf("inspect --format: %q", got)
	}

	// Refusals: one line, status 125, nothing written.
	before := s.networkFiles()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"n1"}, "network name n1 already used: network already exists"},
		{[]string{"bridge"}, "network name bridge already used"},
		{[]string{"bad name"}, "network name bad name invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"},
		{[]string{"--subnet", "10.89.0.0/16", "x"}, "overlaps network n1's 10.89.0.0/24"},
		{[]string{"--subnet", "10.88.1.0/24", "x"}, "overlaps network bridge's 10.88.0.0/16"},
		{[]string{"--subnet", "10.0.2.0/24", "x"}, "the user-mode network inside every network"},
		{[]string{"--subnet", "fd00::/64", "x"}, "IPv4 only"},
		{[]string{"--subnet", "10.0.0.0/33", "x"}, "invalid --subnet 10.0.0.0/33"},
		{[]string{"--subnet", "10.91.0.0/24", "--gateway", "10.92.0.1", "x"}, "gateway 10.92.0.1 not in subnet 10.91.0.0/24"},
		{[]string{"--subnet", "10.91.0.0/24", "--gateway", "10.91.0.255", "x"}, "broadcast"},
		{[]string{"--gateway", "10.91.0.1", "x"}, "needs --subnet"},
		{[]string{"-o", "mtu=100", "x"}, "the MTU must be 1280..65520"},
		{[]string{"-o", "isolate=true", "x"}, "unsupported network option isolate"},
		{[]string{"--dns", "resolver", "x"}, "invalid --dns resolver"},
		{[]string{"--driver", "macvlan", "x"}, "unsupported driver macvlan"},
		{[]string{"--label", "=v", "x"}, "invalid --label"},
		{[]string{"a", "b"}, "accepts at most 1 arg(s), received 2"},
	} {
		s.fails(125, tt.want, append([]string{"network", "create"}, tt.args...)...)
		if got := s.networkFiles(); !slices.Equal(got, before) {
			t.Fatalf("network create %q left %q (before: %q)", tt.args, got, before)
		}
	}

	if got := s.ok("network", "ls", "-q"); got != "bridge\nn1\nn2\n" {
		t.Errorf("ls -q: %q", got)
	}
	if got := s.ok("network", "ls", "-q", "--filter", "name=^n", "--filter", "label=app=web"); got != "n2\n" {
		t.Errorf("ls --filter name=^n --filter label=app=web: %q", got)
	}
	n1ID := n1["id"].(string)
	if got := s.ok("network", "ls", "--filter", "id="+n1ID[:6], "--format", "{{.ID}} {{.Name}}"); got != n1ID[:12]+" n1\n" {
		t.Errorf("ls --filter id --format: %q", got)
	}
	if got := s.ok("network", "ls", "--filter", "name=n1", "--no-trunc", "--format", "{{.ID}}"); got != n1ID+"\n" {
		t.Errorf("ls --no-trunc: %q", got)
	}
	if got := s.ok("network", "ls", "--filter", "driver=macvlan", "--format", "json"); got != "[]\n" {
		t.Errorf("ls --format json of nothing: %q", got)
	}
	s.fails(125, "filter input must be in the form of filter=value", "network", "ls", "--filter", "name")
	s.fails(125, `invalid filter "until"`, "network", "ls", "--filter", "until=1h")

	for _, tt := range []struct {
		name string
		code int
	}{{"n1", 0}, {n1ID[:10], 0}, {"bridge", 0}, {"nope", 1}} {
		if r := s.run("network", "exists", tt.name); r.code != tt.code || r.stdout != "" || r.stderr != "" {
			t.Errorf("exists %s: %d %q %q, want %d and no output", tt.name, r.code, r.stdout, r.stderr, tt.code)
		}
	}

	r := s.fails(125, "inspecting object: network nope: unable to find network with name or ID nope: network not found", "network", "inspect", "nope")
	if r.stdout != "[]\n" {
		t.Errorf("inspect nope printed %q", r.stdout)
	}
	s.fails(125, "default network bridge cannot be removed", "network", "rm", "bridge")
	s.fails(1, "unable to find network with name or ID nope: network not found", "network", "rm", "nope")
	if r := s.run("network", "rm", "-f", "nope"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("rm -f nope: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := s.ok("network", "rm", n1ID[:12]); got != n1ID[:12]+"\n" {
		t.Errorf("rm by ID printed %q", got)
	}
	s.ok("network", "create", "n3")
	s.ok("network", "create", "n1")

	// prune asks; no answer (stdin at its end) is podman's EOF error.
	s.fails(125, "EOF", "network", "prune")
	if got := s.ok("network", "ls", "-q"); got != "bridge\nn1\nn2\nn3\n" {
		t.Errorf("after an unanswered prune: %q", got)
	}
	c := s.cmd("network", "prune")
	c.Stdin = strings.NewReader("n\n")
	if r, err := capture(c); err != nil || r.code != 0 || strings.Contains(r.stdout, "n1\n") {
		t.Errorf("prune answered n: %v %d %q", err, r.code, r.stdout)
	}
	if got := s.ok("network", "prune", "-f"); got != "n1\nn2\nn3\n" {
		t.Errorf("prune -f printed %q", got)
	}
	if got := s.ok("network", "ls", "-q"); got != "bridge\n" {
		t.Errorf("after prune: %q", got)
	}
	if got := s.networkFiles(); !slices.Equal(got, []string{"bridge.json", "lock"}) {
		t.Errorf("network files at the end: %q", got)
	}
}

// TestNetworkConfigPodman: the lines through both, in private stores.
func TestNetworkConfigPodman(t *testing.T) {
	s := newStore(t)
	p := newPodman(t)
	type line struct {
		args     []string
		stdin    string
		codeOnly bool // compare the exit status only (the words differ)
		stderr   bool // compare stderr too
	}
	lines := []line{
		{args: []string{"network", "create", "cmpnet"}},
		{args: []string{"network", "create", "cmpnet"}, stderr: true},
		{args: []string{"network", "create", "bad name"}, stderr: true},
		{args: []string{"network", "create", "--subnet", "10.91.0.0/24", "--gateway", "10.92.0.1", "x"}, codeOnly: true},
		{args: []string{"network", "create", "--gateway", "10.91.0.1", "x"}, codeOnly: true},
		{args: []string{"network", "create", "a", "b"}, codeOnly: true},
		{args: []string{"network", "create", "--subnet", "10.93.0.0/24", "--label", "a=b", "--internal", "-o", "mtu=1500", "cmp2"}},
		{args: []string{"network", "ls", "-q", "--filter", "name=^cmp"}},
		{args: []string{"network", "ls", "--filter", "label=a", "--format", "{{.Name}} {{.Driver}} {{.Labels}}"}},
		{args: []string{"network", "ls", "--filter", "foo"}, codeOnly: true},
		{args: []string{"network", "ls", "x"}, codeOnly: true},
		{args: []string{"network", "inspect", "--format", "{{.Name}} {{.Internal}} {{.IPv6Enabled}}", "cmpnet", "cmp2"}},
		{args: []string{"network", "inspect", "nope"}, stderr: true},
		{args: []string{"network", "inspect"}, codeOnly: true},
		{args: []string{"network", "exists", "cmpnet"}},
		{args: []string{"network", "exists", "nope"}},
		{args: []string{"network", "rm", "nope"}, stderr: true},
		{args: []string{"network", "rm", "-f", "nope"}},
		{args: []string{"network", "rm", "nope", "cmp2"}, stderr: true},
		{args: []string{"network", "rm"}, codeOnly: true},
		{args: []string{"network", "prune"}},
		{args: []string{"network", "prune"}, stdin: "n\n"},
		{args: []string{"network", "prune", "-f"}},
		{args: []string{"network", "ls", "-q", "--filter", "name=^cmp"}},
	}
	for _, l := range lines {
		cu, cp := s.cmd(l.args...), exec.Command("podman", l.args...)
		cp.Env = p.env
		cu.Stdin, cp.Stdin = strings.NewReader(l.stdin), strings.NewReader(l.stdin)
		u, err := capture(cu)
		if err != nil {
			t.Fatal(err)
		}
		pm, err := capture(cp)
		if err != nil {
			t.Fatal(err)
		}
		where := "usandbox " + strings.Join(l.args, " ")
		if u.code != pm.code {
			t.Errorf("%s: exit %d, podman %d\nusandbox stderr: %spodman stderr: %s", where, u.code, pm.code, u.stderr, pm.stderr)
			continue
		}
		if u.code != 0 && len(strings.Split(strings.TrimSpace(u.stderr), "\n")) != 1 {
			t.Errorf("%s: stderr is not one line: %q", where, u.stderr)
		}
		if l.codeOnly {
			continue
		}
		if u.stdout != pm.stdout {
			t.Errorf("%s: stdout differs\nusandbox: %q\npodman:   %q", where, u.stdout, pm.stdout)
		}
		if l.stderr && onlyErrors(u.stderr) != onlyErrors(pm.stderr) {
			t.Errorf("%s: stderr differs\nusandbox: %q\npodman:   %q", where, u.stderr, pm.stderr)
		}
	}
	if got := s.networkFiles(); !slices.Equal(got, []string{"bridge.json", "lock"}) {
		t.Errorf("network files at the end: %q", got)
	}
}

// onlyErrors drops podman's log lines (time="…" level=…: warnings about
// the host, or about its own store, which other podman users on this
// machine may have made with another graph driver) from stderr: what is
// compared is the command's error.
func onlyErrors(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(l, `time="`) && !strings.Contains(l, "level=warning") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// Differences kept on purpose (not in the table):
//   - the default network is "bridge" (docker's name), 10.88.0.0/16, not
//     podman's "podman"; its ID is usandbox's own fixed one.
//   - network_interface is "br0": every network has its own network
//     namespace, with its bridge in it; dns_enabled is true for every
//     network (each has the resolver); --dns (an upstream, IP[:PORT])
//     shows as network_dns_servers, podman 4.5's name.
//   - -o mtu= must be 1280..65520 and --subnet at most a /30 and clear of
//     10.0.2.0/24; podman 4.3 takes any.
//   - network rm A B C stops at the first network in use (as podman) but
//     prints the names removed before it (podman loses them).
