package build

import "testing"

func TestRunNetwork(t *testing.T) {
	for _, c := range []struct {
		build, asked, want string
		ok                 bool
	}{
		{"", "", "", true},
		{"none", "", "none", true},
		{"", "default", "", true},
		{"pasta", "default", "pasta", true},
		{"", "none", "none", true},
		{"host", "none", "none", true},
		{"host", "host", "host", true},
		{"", "host", "", false},
		{"none", "host", "", false},
		{"", "container:other", "", false},
		{"", "slirp4netns:allow_host_loopback=true", "", false},
		{"slirp4netns", "pasta", "", false},
		{"", "ns:/proc/1/ns/net", "", false},
	} {
		got, err := runNetwork(c.build, c.asked)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("runNetwork(%q, %q) = %q, %v; want %q, ok %v", c.build, c.asked, got, err, c.want, c.ok)
		}
	}
}
