package link

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckConfigs(t *testing.T) {
	gw := netip.MustParsePrefix("10.89.0.1/24")
	bridge := []struct {
		name string
		cfg  BridgeConfig
		err  string
	}{
		{"ok", BridgeConfig{Name: "usb0", MTU: 65520, Gateway: gw}, ""},
		{"no name", BridgeConfig{Gateway: gw}, "empty"},
		{"long name", BridgeConfig{Name: "abcdefghijklmnop", Gateway: gw}, "longer than 15"},
		{"slash", BridgeConfig{Name: "a/b", Gateway: gw}, "not valid"},
		{"mtu", BridgeConfig{Name: "usb0", MTU: 67, Gateway: gw}, "out of range"},
		{"no gateway", BridgeConfig{Name: "usb0"}, "not an IPv4"},
		{"v6 gateway", BridgeConfig{Name: "usb0", Gateway: netip.MustParsePrefix("fd00::1/64")}, "not an IPv4"},
		{"tiny subnet", BridgeConfig{Name: "usb0", Gateway: netip.MustParsePrefix("10.89.0.1/31")}, "too small"},
		{"bad outbound", BridgeConfig{Name: "usb0", Gateway: gw, Outbound: "a b"}, "not valid"},
		{"bad drop", BridgeConfig{Name: "usb0", Gateway: gw, Drop: []netip.Prefix{{}}}, "to drop"},
	}
	for _, c := range bridge {
		t.Run("bridge/"+c.name, func(t *testing.T) { wantErr(t, c.cfg.check(), c.err) })
	}
	addr := netip.MustParsePrefix("10.89.0.2/24")
	ok := AttachConfig{Bridge: "usb0", HostName: "v0123456789ab", IfName: "eth0", MTU: 65520,
		Address: addr, Gateway: gw.Addr(), DefaultRoute: true}
	attach := []struct {
		name string
		mod  func(*AttachConfig)
		err  string
	}{
		{"ok", func(*AttachConfig) {}, ""},
		{"host name too long", func(c *AttachConfig) { c.HostName = "v0123456789abcdef" }, "host-side interface name"},
		{"no ifname", func(c *AttachConfig) { c.IfName = "" }, "member interface name is empty"},
		{"no address", func(c *AttachConfig) { c.Address = netip.Prefix{} }, "member address"},
		{"gateway outside", func(c *AttachConfig) { c.Gateway = netip.MustParseAddr("10.90.0.1") }, "not in the member's subnet"},
		{"gateway ignored without route", func(c *AttachConfig) { c.Gateway = netip.Addr{}; c.DefaultRoute = false }, ""},
		{"short mac", func(c *AttachConfig) { c.MAC = []byte{2, 0, 0} }, "not an Ethernet"},
	}
	for _, c := range attach {
		t.Run("attach/"+c.name, func(t *testing.T) {
			cfg := ok
			c.mod(&cfg)
			wantErr(t, cfg.check(), c.err)
		})
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
