package holder

import (
	"net"
	"reflect"
	"testing"

	"usandbox/network/netconf"
)

func TestUpstreams(t *testing.T) {
	tests := []struct {
		dns  []string
		want []string
		lo   bool
	}{
		{nil, []string{"10.0.2.3:53"}, false},
		{[]string{"192.0.2.1"}, []string{"192.0.2.1:53"}, false},
		{[]string{"127.0.0.1:5353", "192.0.2.1:54"}, []string{"10.0.2.2:5353", "192.0.2.1:54"}, true},
		{[]string{"127.0.0.53"}, []string{"10.0.2.2:53"}, true},
	}
	for _, tt := range tests {
		got, lo := upstreamsOf(netconf.Network{DNS: tt.dns})
		if !reflect.DeepEqual(got, tt.want) || lo != tt.lo {
			t.Errorf("%v: %v %v, want %v %v", tt.dns, got, lo, tt.want, tt.lo)
		}
	}
}

func TestAllocate(t *testing.T) {
	_, subnet, _ := net.ParseCIDR("10.89.0.0/29") // .1-.6 usable
	ns := &netState{cfg: netconf.Network{Name: "n", Subnet: "10.89.0.0/29"}, subnet: subnet, gateway: net.ParseIP("10.89.0.1").To4(), used: map[string]string{}}
	var got []string
	for i := 0; i < 5; i++ {
		ip, err := ns.allocate("m")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
	}
	want := []string{"10.89.0.2", "10.89.0.3", "10.89.0.4", "10.89.0.5", "10.89.0.6"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := ns.allocate("m"); err == nil {
		t.Fatal("a full subnet gave an address")
	}
	// A freed address is the next one given.
	delete(ns.used, "10.89.0.4")
	if ip, _ := ns.allocate("m"); ip.String() != "10.89.0.4" {
		t.Fatalf("after freeing .4: %v", ip)
	}
}
