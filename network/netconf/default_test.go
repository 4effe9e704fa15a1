package netconf_test

import (
	"testing"

	"usandbox/network"
	"usandbox/network/netconf"
)

// netconf keeps its own copy of the default network's name (package
// network may come to import netconf): the two must agree.
func TestDefaultName(t *testing.T) {
	if netconf.DefaultName != network.DefaultNetwork {
		t.Errorf("netconf.DefaultName %q, network.DefaultNetwork %q", netconf.DefaultName, network.DefaultNetwork)
	}
}
