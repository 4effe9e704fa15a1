package network

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseNetwork(t *testing.T) {
	tests := []struct {
		in   string
		mode string
		mtu  int
		cidr string
		lo   bool
		err  string
	}{
		{"slirp4netns", Slirp4netns, 65520, "10.0.2.0/24", false, ""},
		{"slirp4netns:mtu=1500,cidr=10.0.3.0/24,allow_host_loopback=true", Slirp4netns, 1500, "10.0.3.0/24", true, ""},
		{"pasta:mtu=9000", Pasta, 9000, "10.0.2.0/24", false, ""},
		{"none", None, 65520, "10.0.2.0/24", false, ""},
		{"host", Host, 65520, "10.0.2.0/24", false, ""},
		{"bad/name", "", 0, "", false, "unknown --network"},
		{"net1:opt=1", "", 0, "", false, "unknown --network"},
		{"none:mtu=1", "", 0, "", false, "takes no options"},
		{"slirp4netns:mtu=1", "", 0, "", false, "mtu must be"},
		{"slirp4netns:cidr=x", "", 0, "", false, "cidr must be"},
		{"slirp4netns:cidr=10.0.0.0/30", "", 0, "", false, "too small"},
		{"slirp4netns:foo=1", "", 0, "", false, "unknown option"},
		{"slirp4netns:mtu", "", 0, "", false, "needs a value"},
	}
	for _, tt := range tests {
		o, err := ParseNetwork(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || o.Mode != tt.mode || o.MTU != tt.mtu || o.CIDR.String() != tt.cidr || o.AllowHostLoopback != tt.lo {
			t.Errorf("%q: %+v %v", tt.in, o, err)
		}
	}
	o, _ := ParseNetwork("slirp4netns:cidr=10.0.3.0/24")
	if o.Addr(100).String() != "10.0.3.100" || o.Addr(3).String() != "10.0.3.3" {
		t.Errorf("Addr: %v %v", o.Addr(100), o.Addr(3))
	}
}

func TestParseNetworks(t *testing.T) {
	tests := []struct {
		in      []string
		aliases []string
		want    Options
		err     string
	}{
		{[]string{"bridge"}, nil, Options{Mode: Bridge, Networks: []Attach{{Name: "bridge"}}}, ""},
		{[]string{"a", "b"}, []string{"x"}, Options{Mode: Bridge, Networks: []Attach{{Name: "a", Aliases: []string{"x"}}, {Name: "b", Aliases: []string{"x"}}}}, ""},
		{[]string{"container:db"}, nil, Options{Mode: Container, Container: "db"}, ""},
		{[]string{"container:"}, nil, Options{}, "needs the name"},
		{[]string{"a", "a"}, nil, Options{}, "given twice"},
		{[]string{"a", "none"}, nil, Options{}, "cannot be combined"},
		{[]string{"host"}, []string{"x"}, Options{}, "only for a sandbox on a network"},
		{nil, nil, Options{}, "no --network"},
		{[]string{"a"}, []string{"a..b"}, Options{}, "invalid network alias"},
		{[]string{"a"}, []string{"."}, Options{}, "invalid network alias"},
		{[]string{"a"}, []string{"*"}, Options{}, "invalid network alias"},
		{[]string{"a"}, []string{strings.Repeat("x", 64)}, Options{}, "longer than 63"},
		{[]string{"a"}, []string{"db.internal", "web_1"}, Options{Mode: Bridge, Networks: []Attach{{Name: "a", Aliases: []string{"db.internal", "web_1"}}}}, ""},
	}
	for _, tt := range tests {
		got, err := ParseNetworks(tt.in, tt.aliases)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in   string
		want Port
		err  string
	}{
		{"80", Port{Proto: "tcp", Container: 80}, ""},
		{"8080:80", Port{Proto: "tcp", HostPort: 8080, Container: 80}, ""},
		{"8080:80/udp", Port{Proto: "udp", HostPort: 8080, Container: 80}, ""},
		{"127.0.0.1:8080:80/tcp", Port{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 8080, Container: 80}, ""},
		{"127.0.0.1::80", Port{Proto: "tcp", HostIP: "127.0.0.1", Container: 80}, ""},
		{"[::1]:8080:80", Port{Proto: "tcp", HostIP: "::1", HostPort: 8080, Container: 80}, ""},
		{"80/sctp", Port{}, "protocol must be tcp or udp"},
		{"x:80", Port{}, "is not a port"},
		{"70000", Port{}, "is not a port"},
		{"foo:1:2", Port{}, "is not an IP"},
		{"1:2:3:4", Port{}, "use [HOST-IP:]"},
	}
	for _, tt := range tests {
		got, err := ParsePort(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v %v", tt.in, got, err)
		}
	}
}
