package dockerapi

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"usandbox/lifecycle"
)

// TestPortBindings: docker's HostPort "" and "0" (testcontainers' way)
// both mean any free port, with or without a HostIP.
func TestPortBindings(t *testing.T) {
	for _, tt := range []struct {
		b    network.PortBinding
		want string
	}{
		{network.PortBinding{HostPort: "8081"}, ":8081:8080"},
		{network.PortBinding{}, ":0:8080"},
		{network.PortBinding{HostPort: "0"}, ":0:8080"},
		{network.PortBinding{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}, "127.0.0.1:0:8080"},
	} {
		var o lifecycle.CreateOptions
		hc := &container.HostConfig{PortBindings: network.PortMap{network.MustParsePort("8080/tcp"): {tt.b}}}
		if err := networkOptions(&o, &container.Config{}, hc, &container.CreateRequest{}); err != nil {
			t.Fatalf("%+v: %v", tt.b, err)
		}
		if len(o.Ports) != 1 {
			t.Fatalf("%+v: ports %+v", tt.b, o.Ports)
		}
		p := o.Ports[0]
		if got := fmt.Sprintf("%s:%d:%d", p.HostIP, p.HostPort, p.Container); got != tt.want || p.Proto != "tcp" {
			t.Errorf("%+v: %s/%s, want %s", tt.b, got, p.Proto, tt.want)
		}
	}
}
