package sandbox

import "testing"

func TestResolvConf(t *testing.T) {
	host := "domain example.org\nsearch host.lan\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions edns0\n"
	for _, c := range []struct {
		name string
		x    Extra
		in   string
		want string
	}{
		{"nothing asked", Extra{}, host, host},
		{"search and options, podman's order", Extra{DNSSearch: []string{"a.com", "b.org"}, DNSOptions: []string{"ndots:2", "rotate"}},
			"nameserver 10.0.2.3\n", "search a.com b.org\nnameserver 10.0.2.3\noptions ndots:2 rotate\n"},
		{"the host's search replaced, its options kept", Extra{DNSSearch: []string{"a.com"}}, host,
			"search a.com\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions edns0\n"},
		{"the host's options replaced, its search kept", Extra{DNSOptions: []string{"ndots:1"}}, host,
			"search example.org host.lan\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions ndots:1\n"},
		{". is no search domain", Extra{DNSSearch: []string{"."}}, host,
			"nameserver 10.0.0.1\nnameserver 10.0.0.2\noptions edns0\n"},
	} {
		if got := c.x.resolvConf(c.in); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestHostsLines(t *testing.T) {
	x := Extra{ExtraHosts: []string{"foo:1.2.3.4", "v6:::1"}}
	if got, want := x.hostsLines(), "1.2.3.4\tfoo\n::1\tv6\n"; got != want {
		t.Errorf("hostsLines = %q, want %q", got, want)
	}
	if got := (&Extra{}).hostsLines(); got != "" {
		t.Errorf("no --add-host: %q", got)
	}
}
