package netconf

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestCheckSubnet(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want "": refused
	}{
		{"10.89.5.0/24", "10.89.5.0/24"},
		{"10.89.5.7/24", "10.89.5.0/24"},
		{"192.168.0.0/16", "192.168.0.0/16"},
		{"172.16.0.0/30", "172.16.0.0/30"},
		{"172.16.0.0/31", ""},
		{"10.0.0.0/33", ""},
		{"10.0.2.0/24", ""},
		{"10.0.2.128/25", ""},
		{"10.0.0.0/8", ""}, // holds 10.0.2.0/24
		{"10.0.3.0/24", "10.0.3.0/24"},
		{"127.0.0.0/24", ""},   // loopback: members' DNS would be their own
		{"169.254.1.0/24", ""}, // link-local
		{"224.0.0.0/24", ""},   // multicast
		{"0.0.0.0/24", ""},
		{"100.64.0.0/24", "100.64.0.0/24"},
		{"fd00::/64", ""},
		{"::ffff:10.1.0.0/120", ""},
		{"10.1.0.0", ""},
		{"", ""},
	} {
		n, err := checkSubnet(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: %v, %v; want ErrInvalid", tt.in, n, err)
			}
			continue
		}
		if err != nil || n.String() != tt.want {
			t.Errorf("%q: %v, %v; want %s", tt.in, n, err, tt.want)
		}
	}
}

func TestParseGateway(t *testing.T) {
	sub, err := checkSubnet("10.90.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"10.90.0.1", true},
		{"10.90.0.254", true},
		{"10.90.0.0", false},
		{"10.90.0.255", false},
		{"10.91.0.1", false},
		{"10.89.255.255", false},
		{"fd00::1", false},
		{"gateway", false},
	} {
		ip, err := parseGateway(tt.in, sub)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%q: %v, %v; want ok=%v", tt.in, ip, err, tt.ok)
		}
		if tt.ok && ip.String() != tt.in {
			t.Errorf("%q: %v", tt.in, ip)
		}
	}
}

func TestOverlaps(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"10.89.0.0/24", "10.89.0.0/24", true},
		{"10.89.0.0/24", "10.89.1.0/24", false},
		{"10.88.0.0/16", "10.88.200.0/24", true},
		{"10.88.200.0/24", "10.88.0.0/16", true},
		{"10.0.0.0/8", "10.255.255.0/24", true},
		{"10.89.0.0/25", "10.89.0.128/25", false},
		{"0.0.0.0/0", "192.0.2.0/24", true},
		{"255.255.255.252/30", "255.255.255.0/24", true},
		{"255.255.255.252/30", "10.0.0.0/8", false},
	} {
		a, err := parseSubnet(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseSubnet(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.overlaps(b); got != tt.want {
			t.Errorf("%s overlaps %s: %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAllocate(t *testing.T) {
	nets := func(ss ...string) []ipv4Net {
		var out []ipv4Net
		for _, s := range ss {
			n, err := parseSubnet(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	for _, tt := range []struct {
		taken []string
		want  string
	}{
		{nil, "10.89.0.0/24"},
		{[]string{"10.88.0.0/16"}, "10.89.0.0/24"},
		{[]string{"10.89.0.0/24"}, "10.89.1.0/24"},
		{[]string{"10.89.0.0/24", "10.89.2.0/24"}, "10.89.1.0/24"},
		{[]string{"10.89.0.0/23"}, "10.89.2.0/24"},
		{[]string{"10.89.0.128/25"}, "10.89.1.0/24"},
		{[]string{"10.89.0.0/16"}, "10.90.0.0/24"},
		{[]string{"10.64.0.0/10", "10.128.0.0/9"}, ""},
	} {
		got, err := allocate(nets(tt.taken...))
		if tt.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: %v, %v; want none free", tt.taken, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%q: %v, %v; want %s", tt.taken, got, err, tt.want)
		}
	}
}

func TestParseMTUAndDNS(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"1280", true}, {"65520", true}, {"1500", true}, {"1279", false}, {"65521", false}, {"abc", false}, {"", false}} {
		if _, err := ParseMTU(tt.in); tt.ok != (err == nil) {
			t.Errorf("mtu %q: %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"1.1.1.1", "1.1.1.1"},
		{"127.0.0.1:5353", "127.0.0.1:5353"},
		{"10.0.2.2:053", "10.0.2.2:53"},
		{"fd00::53", "fd00::53"},
		{"[fd00::53]:5353", "[fd00::53]:5353"},
		{"::ffff:1.2.3.4", "1.2.3.4"},
		{"1.1.1.1:0", ""},
		{"1.1.1.1:70000", ""},
		{"dns.example", ""},
		{"fd00::53:5353x", ""},
		{"", ""},
	} {
		got, err := ParseDNS(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("dns %q: %q, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("dns %q: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"n1", true}, {"a.b-c_d", true}, {"0", true}, {"", false}, {"-a", false}, {".a", false}, {"a b", false}, {"a/b", false}, {"ü", false}} {
		if err := CheckName(tt.in); tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%q: %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

// files are the names in the store's directory.
func files(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestCreate(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "networks"))
	n1, err := s.Create(CreateRequest{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if n1.Subnet != "10.89.0.0/24" || n1.Gateway != "10.89.0.1" || n1.MTU != DefaultMTU || n1.Driver != "bridge" || len(n1.ID) != 64 {
		t.Errorf("n1: %+v", n1)
	}
	n2, err := s.Create(CreateRequest{
		Name: "n2", Subnet: "10.90.0.7/24", Gateway: "10.90.0.254", Internal: true,
		Labels: map[string]string{"a": "b"}, Options: map[string]string{"mtu": "1500"}, DNS: []string{"127.0.0.1:5353"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n2.Subnet != "10.90.0.0/24" || n2.Gateway != "10.90.0.254" || !n2.Internal || n2.MTU != 1500 ||
		n2.Labels["a"] != "b" || n2.Options["mtu"] != "1500" || len(n2.DNS) != 1 || n2.DNS[0] != "127.0.0.1:5353" {
		t.Errorf("n2: %+v", n2)
	}
	n3, err := s.Create(CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n3.Name != "usandbox1" || n3.Subnet != "10.89.1.0/24" {
		t.Errorf("unnamed: %+v", n3)
	}
	for _, tt := range []struct {
		req  CreateRequest
		want error
	}{
		{CreateRequest{Name: "n1"}, ErrExists},
		{CreateRequest{Name: "bridge"}, ErrExists},
		{CreateRequest{Name: "bad name"}, ErrInvalid},
		{CreateRequest{Name: "x", Subnet: "10.89.0.0/16"}, ErrInvalid}, // holds n1's
		{CreateRequest{Name: "x", Subnet: "10.88.5.0/24"}, ErrInvalid}, // in bridge's
		{CreateRequest{Name: "x", Subnet: "10.0.2.0/24"}, ErrInvalid},  // the user-mode stack's
		{CreateRequest{Name: "x", Gateway: "10.91.0.1"}, ErrInvalid},   // no --subnet
		{CreateRequest{Name: "x", Subnet: "10.91.0.0/24", Gateway: "10.92.0.1"}, ErrInvalid},
		{CreateRequest{Name: "x", Driver: "macvlan"}, ErrInvalid},
		{CreateRequest{Name: "x", Options: map[string]string{"mtu": "100"}}, ErrInvalid},
		{CreateRequest{Name: "x", Options: map[string]string{"isolate": "true"}}, ErrInvalid},
		{CreateRequest{Name: "x", Labels: map[string]string{"": "v"}}, ErrInvalid},
		{CreateRequest{Name: "x", DNS: []string{"host"}}, ErrInvalid},
	} {
		if n, err := s.Create(tt.req); !errors.Is(err, tt.want) || n != nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, %v; want %v", tt.req, n, err, tt.want)
		}
	}
	want := []string{"bridge.json", "lock", "n1.json", "n2.json", "usandbox1.json"}
	if got := files(t, s); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files %q, want %q", got, want)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range list {
		names = append(names, n.Name)
	}
	if strings.Join(names, " ") != "bridge n1 n2 usandbox1" {
		t.Errorf("list: %q", names)
	}
	if list[0].Subnet != DefaultSubnet || list[0].Gateway != DefaultGateway || list[0].ID != defaultID() {
		t.Errorf("default: %+v", list[0])
	}
}

func TestConcurrentCreate(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "networks"))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Create(CreateRequest{})
		}()
	}
	wg.Wait()
	subnets := map[string]bool{}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, n := range list {
		if subnets[n.Subnet] {
			t.Errorf("subnet %s twice", n.Subnet)
		}
		subnets[n.Subnet] = true
	}
	if len(list) != 9 {
		t.Errorf("%d networks, want 9", len(list))
	}
}

func TestGet(t *testing.T) {
	all := []*Network{
		{Name: "bridge", ID: "ab12" + strings.Repeat("0", 60)},
		{Name: "n1", ID: "ab34" + strings.Repeat("1", 60)},
		{Name: "cd", ID: "cdef" + strings.Repeat("2", 60)},
		{Name: "ab34", ID: "ffff" + strings.Repeat("3", 60)},
	}
	for _, tt := range []struct {
		ref, want string
		err       error
	}{
		{"n1", "n1", nil},
		{"bridge", "bridge", nil},
		{"ab12", "bridge", nil},
		{"ab34", "ab34", nil}, // a name beats an ID prefix
		{"ab3", "n1", nil},
		{"cd", "cd", nil},
		{"cde", "cd", nil},
		{"cdef" + strings.Repeat("2", 60), "cd", nil},
		{"ab", "", ErrInvalid},
		{"", "", ErrNotFound},
		{"zz", "", ErrNotFound},
		{"N1", "", ErrNotFound},
	} {
		n, err := lookup(all, tt.ref)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%q: %v, %v; want %v", tt.ref, n, err, tt.err)
			}
			continue
		}
		if err != nil || n.Name != tt.want {
			t.Errorf("%q: %v, %v; want %s", tt.ref, n, err, tt.want)
		}
	}
}

func TestRemove(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "networks"))
	n1, err := s.Create(CreateRequest{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove("bridge", nil); !errors.Is(err, ErrDefault) || err.Error() != "default network bridge cannot be removed" {
		t.Errorf("rm bridge: %v", err)
	}
	inUse := errors.New("in use")
	if _, err := s.Remove("n1", func(*Network) error { return inUse }); !errors.Is(err, inUse) {
		t.Errorf("rm n1 refused by check: %v", err)
	}
	if _, err := s.Get("n1"); err != nil {
		t.Errorf("n1 after a refused rm: %v", err)
	}
	got, err := s.Remove(n1.ID[:12], nil)
	if err != nil || got.Name != "n1" {
		t.Fatalf("rm by ID prefix: %v, %v", got, err)
	}
	if _, err := s.Get("n1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("n1 after rm: %v", err)
	}
	if _, err := s.Remove("n1", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("second rm: %v", err)
	}
	if got := files(t, s); strings.Join(got, " ") != "bridge.json lock" {
		t.Errorf("files %q", got)
	}
	// The default network comes back when its file is gone.
	if err := os.Remove(filepath.Join(s.Dir(), "bridge.json")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Get("bridge"); err != nil || n.ID != defaultID() {
		t.Errorf("bridge after its file went: %v, %v", n, err)
	}
}
