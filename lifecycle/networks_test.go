package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"usandbox/network"
	"usandbox/network/netconf"
	"usandbox/sandbox"
	"usandbox/storage/index"
)

// onNetworks makes a sandbox whose record says it is on nets, as run
// --network will make one.
func onNetworks(t *testing.T, e *Engine, name string, nets ...string) *Sandbox {
	t.Helper()
	o := network.Options{Mode: network.Bridge, MTU: 65520}
	var cfgs []netconf.Network
	for _, n := range nets {
		o.Networks = append(o.Networks, network.Attach{Name: n})
		cfg, err := e.Networks().Get(n)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, *cfg)
	}
	sb, err := sandbox.Create(sandbox.Options{
		Paths: e.paths, Name: name, ImageRef: "test",
		Index:   &index.Index{Driver: "overlay", Home: filepath.Join(e.paths.Root, "storage")},
		Image:   &index.Image{ID: "img" + name, Config: index.Config{Cmd: []string{"true"}}},
		Network: o, NetworkRaw: strings.Join(nets, ","), Networks: cfgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func names(ns []*Network) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

func TestNetworkRemove(t *testing.T) {
	ctx := context.Background()
	e, _ := testEngine(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		if _, err := e.NetworkCreate(ctx, NetworkCreateOptions{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.NetworkCreate(ctx, NetworkCreateOptions{Name: "n1"}); !errors.Is(err, ErrConflict) {
		t.Errorf("second n1: %v, want ErrConflict", err)
	}
	if _, err := e.NetworkCreate(ctx, NetworkCreateOptions{Name: "x", Subnet: "10.89.0.0/16"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("overlapping subnet: %v, want ErrInvalid", err)
	}
	stopped := onNetworks(t, e, "web", "n1", "n2")
	stopped.HeldLock().Close() // as when its creator exits
	up := onNetworks(t, e, "db", "n1")
	if err := e.StartCreated(ctx, up); err != nil {
		t.Fatal(err)
	}
	err := e.NetworkRemove(ctx, "n1", false)
	if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrNetworkInUse) ||
		!strings.HasPrefix(err.Error(), `"n1" has associated sandboxes with it (`) || !strings.HasSuffix(err.Error(), ": network is being used") {
		t.Fatalf("rm of n1 in use: %v", err)
	}
	if ok, err := e.NetworkExists(ctx, "n1"); !ok || err != nil {
		t.Fatalf("n1 after a refused rm: %v %v", ok, err)
	}
	if err := e.NetworkRemove(ctx, "bridge", false); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "default network bridge cannot be removed") {
		t.Errorf("rm bridge: %v", err)
	}
	if err := e.NetworkRemove(ctx, "nope", false); !errors.Is(err, ErrNotFound) || err.Error() != "unable to find network with name or ID nope: network not found" {
		t.Errorf("rm nope: %v", err)
	}
	// prune keeps what a sandbox is on, and the default network.
	pruned, err := e.NetworkPrune(ctx)
	if err != nil || !slices.Equal(pruned, []string{"n3"}) {
		t.Fatalf("prune: %q %v, want [n3]", pruned, err)
	}
	f, err := ParseNetworkFilters([]string{"dangling=false"})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := e.NetworkList(ctx, f); err != nil || !slices.Equal(names(l), []string{"n1", "n2"}) {
		t.Errorf("dangling=false: %q %v", names(l), err)
	}
	// -f removes both sandboxes (the running one stopped), then n1.
	if err := e.NetworkRemove(ctx, "n1", true); err != nil {
		t.Fatalf("rm -f n1: %v", err)
	}
	for _, sb := range []*Sandbox{stopped, up} {
		if _, err := os.Stat(sb.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("sandbox %s after rm -f of its network: %v", sb.Name, err)
		}
	}
	l, err := e.NetworkList(ctx, NetworkFilters{})
	if err != nil || !slices.Equal(names(l), []string{"bridge", "n2"}) {
		t.Errorf("after rm -f n1: %q %v", names(l), err)
	}
	if err := e.NetworkRemove(ctx, "n2", false); err != nil {
		t.Errorf("rm of n2, its sandbox gone: %v", err)
	}
}

func TestParseNetworkFilters(t *testing.T) {
	nets := []*Network{
		{Name: "bridge", ID: "2f25aa", Driver: "bridge"},
		{Name: "front", ID: "9d10bb", Driver: "bridge", Labels: map[string]string{"app": "web"}},
		{Name: "back", ID: "9d20cc", Driver: "bridge", Labels: map[string]string{"tier": ""}},
	}
	used := map[string]bool{"front": true}
	for _, tt := range []struct {
		filters []string
		want    []string
		err     bool
	}{
		{nil, []string{"bridge", "front", "back"}, false},
		{[]string{"name=^b"}, []string{"bridge", "back"}, false},
		{[]string{"name=front", "name=back"}, []string{"front", "back"}, false},
		{[]string{"id=9d1"}, []string{"front"}, false},
		{[]string{"id=^9d"}, []string{"front", "back"}, false},
		{[]string{"label=app"}, []string{"front"}, false},
		{[]string{"label=app=web"}, []string{"front"}, false},
		{[]string{"label=app=db"}, nil, false},
		{[]string{"label=tier", "name=front"}, nil, false},
		{[]string{"driver=bridge"}, []string{"bridge", "front", "back"}, false},
		{[]string{"driver=macvlan"}, nil, false},
		{[]string{"dangling=true"}, []string{"bridge", "back"}, false},
		{[]string{"dangling=false"}, []string{"front"}, false},
		{[]string{"dangling=maybe"}, nil, true},
		{[]string{"name=("}, nil, true},
		{[]string{"label"}, nil, true},
		{[]string{"until=1h"}, nil, true},
	} {
		f, err := ParseNetworkFilters(tt.filters)
		if tt.err {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: err %v, want ErrInvalid", tt.filters, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.filters, err)
			continue
		}
		var got []string
		for _, n := range nets {
			if f.match(n, used[n.Name]) {
				got = append(got, n.Name)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: %q, want %q", tt.filters, got, tt.want)
		}
	}
}
