package userns

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func u32(n uint32) *uint32 { return &n }

func TestParseUserNS(t *testing.T) {
	tests := []struct {
		in      string
		want    Request
		wantErr string
	}{
		{"", Request{}, ""},
		{"host", Request{}, ""},
		{"keep-id", Request{KeepID: true}, ""},
		{"keep-id:uid=1000", Request{KeepID: true, KeepUID: u32(1000)}, ""},
		{"keep-id:uid=1000,gid=100", Request{KeepID: true, KeepUID: u32(1000), KeepGID: u32(100)}, ""},
		{"keep-id:gid=0", Request{KeepID: true, KeepGID: u32(0)}, ""},
		{"keep-id:uid=x", Request{}, "uid must be a number"},
		{"keep-id:uid=-1", Request{}, "uid must be a number"},
		{"keep-id:uid=4294967295", Request{}, "uid must be a number"},
		{"keep-id:foo=1", Request{}, `unknown option "foo=1"`},
		{"keep-id:uid", Request{}, `unknown option "uid"`},
		{"host:x", Request{}, "takes no options"},
		{"private", Request{}, "usandbox knows host and keep-id"},
		{"auto", Request{}, "usandbox knows host and keep-id"},
		{"bogus", Request{}, "usandbox knows host and keep-id"},
	}
	for _, tt := range tests {
		got, err := ParseUserNS(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseIDMapFlag(t *testing.T) {
	tests := []struct {
		in      []string
		want    []IDMap
		wantErr string
	}{
		{[]string{"0:1:1000"}, []IDMap{{0, 1, 1000}}, ""},
		{[]string{"0:1:1000", "1000:0:1"}, []IDMap{{0, 1, 1000}, {1000, 0, 1}}, ""},
		{[]string{"0:1:1000,1000:0:1"}, []IDMap{{0, 1, 1000}, {1000, 0, 1}}, ""},
		{[]string{"0:1:1000:1000:0:1"}, []IDMap{{0, 1, 1000}, {1000, 0, 1}}, ""},
		{[]string{"0:1"}, nil, "want CONTAINER-ID:HOST-ID:SIZE"},
		{[]string{"a:1:1"}, nil, `"a" is not a number`},
		{[]string{"0:1:-1"}, nil, "not a number"},
		{[]string{"0:1:0"}, nil, "at least 1"},
		{[]string{"4294967290:0:10"}, nil, "passes the last ID"},
		{[]string{"0:1:10", "5:20:10"}, nil, "map the same container IDs"},
		{[]string{"0:1:10", "20:5:10"}, nil, "map the same host IDs"},
	}
	for _, tt := range tests {
		got, err := ParseIDMapFlag("uidmap", tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "invalid --uidmap") {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestKeepIDMap: the maps podman 4.3 writes (seen in its containers'
// /proc/self/uid_map, which are relative to its rootless namespace).
func TestKeepIDMap(t *testing.T) {
	tests := []struct {
		id   uint32
		size uint64
		want []IDMap
	}{
		{1001, 65537, []IDMap{{0, 1, 1001}, {1001, 0, 1}, {1002, 1002, 64535}}},
		{1000, 65537, []IDMap{{0, 1, 1000}, {1000, 0, 1}, {1001, 1001, 64536}}},
		{70000, 65537, []IDMap{{0, 1, 65536}, {70000, 0, 1}}},
		{65536, 65537, []IDMap{{0, 1, 65536}, {65536, 0, 1}}},
		{0, 65537, []IDMap{{0, 0, 1}, {1, 1, 65536}}},
	}
	for _, tt := range tests {
		if got := KeepIDMap(tt.id, tt.size); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("KeepIDMap(%d, %d) = %v, want %v", tt.id, tt.size, got, tt.want)
		}
	}
}

func TestCompose(t *testing.T) {
	// The user's namespace: two sub-ID ranges.
	outer := FullMap(1000, []Range{{100000, 500}, {300000, 1000}})
	tests := []struct {
		name    string
		inner   []IDMap
		want    []IDMap
		wantErr string
	}{
		{"identity", []IDMap{{0, 0, 1501}}, outer, ""},
		{"keep-id across both ranges", KeepIDMap(1000, 1501),
			[]IDMap{{0, 100000, 500}, {500, 300000, 500}, {1000, 1000, 1}, {1001, 300500, 500}}, ""},
		{"one ID", []IDMap{{5, 0, 1}}, []IDMap{{5, 1000, 1}}, ""},
		{"past the end", []IDMap{{0, 1, 1501}}, nil, "ID 1501 of your user namespace is not yours"},
		{"far outside", []IDMap{{0, 100000, 1}}, nil, "not yours"},
	}
	for _, tt := range tests {
		got, err := Compose(tt.inner, outer)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
		if !within(got, outer) {
			t.Errorf("%s: %v not within %v", tt.name, got, outer)
		}
	}
}

func TestSandboxMaps(t *testing.T) {
	full := &Plan{Mode: Full, UID: 1001, GID: 1001, User: "u",
		UIDMap: FullMap(1001, []Range{{100000, 65536}}), GIDMap: FullMap(1001, []Range{{100000, 65536}})}
	single := &Plan{Mode: Single, UID: 1001, GID: 1001, User: "u", UIDMap: []IDMap{{0, 1001, 1}}, GIDMap: []IDMap{{0, 1001, 1}}}
	root := &Plan{Mode: Root}
	keep := []IDMap{{0, 100000, 1001}, {1001, 1001, 1}, {1002, 101001, 64535}}
	tests := []struct {
		name           string
		plan           *Plan
		req            Request
		wantU, wantG   []IDMap
		wantUser       string
		wantErr        string
		wantErrNoSubID bool
	}{
		{"default", full, Request{}, nil, nil, "", "", false},
		{"default single", single, Request{}, nil, nil, "", "", false},
		{"keep-id", full, Request{KeepID: true}, keep, keep, "1001:1001", "", false},
		{"keep-id uid gid", full, Request{KeepID: true, KeepUID: u32(1000), KeepGID: u32(0)},
			[]IDMap{{0, 100000, 1000}, {1000, 1001, 1}, {1001, 101000, 64536}}, full.GIDMap, "1000:0", "", false},
		{"uidmap stands for gidmap", full, Request{UIDMap: []IDMap{{0, 1, 1000}, {1000, 0, 1}}},
			[]IDMap{{0, 100000, 1000}, {1000, 1001, 1}}, []IDMap{{0, 100000, 1000}, {1000, 1001, 1}}, "", "", false},
		{"gidmap alone", full, Request{GIDMap: []IDMap{{0, 0, 1}}}, []IDMap{{0, 1001, 1}}, []IDMap{{0, 1001, 1}}, "", "", false},
		{"both", full, Request{UIDMap: []IDMap{{0, 1, 10}, {10, 0, 1}}, GIDMap: []IDMap{{0, 0, 1}}}, []IDMap{{0, 100000, 10}, {10, 1001, 1}}, []IDMap{{0, 1001, 1}}, "", "", false},
		{"uidmap without the user", full, Request{UIDMap: []IDMap{{0, 1, 10}}, GIDMap: []IDMap{{0, 0, 1}}}, nil, nil, "", "invalid --uidmap: it must map host ID 0", false},
		{"gidmap without the user", full, Request{UIDMap: []IDMap{{0, 0, 1}}, GIDMap: []IDMap{{0, 1, 1}}}, nil, nil, "", "invalid --gidmap: it must map host ID 0", false},
		{"uidmap past the range", full, Request{UIDMap: []IDMap{{0, 0, 70000}}}, nil, nil, "", "invalid --uidmap: ID 65537 of your user namespace is not yours", false},
		{"uidmap without root", full, Request{UIDMap: []IDMap{{1, 1, 10}}}, nil, nil, "", "must map container ID 0", false},
		{"keep-id and uidmap", full, Request{KeepID: true, UIDMap: []IDMap{{0, 1, 10}}}, nil, nil, "", "cannot be used together", false},
		{"keep-id single", single, Request{KeepID: true}, nil, nil, "", "--userns=keep-id needs a sub-ID range", true},
		{"uidmap single", single, Request{UIDMap: []IDMap{{0, 0, 1}}}, nil, nil, "", "--uidmap/--gidmap needs a sub-ID range", true},
		{"keep-id root", root, Request{KeepID: true}, nil, nil, "", "rootless", true},
	}
	for _, tt := range tests {
		u, g, user, err := tt.plan.SandboxMaps(tt.req)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, ErrNoSubIDs) != tt.wantErrNoSubID {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(u, tt.wantU) || !reflect.DeepEqual(g, tt.wantG) || user != tt.wantUser {
			t.Errorf("%s: got %v %v %q %v; want %v %v %q", tt.name, u, g, user, err, tt.wantU, tt.wantG, tt.wantUser)
		}
		if u != nil && !within(u, tt.plan.UIDMap) {
			t.Errorf("%s: uid map %v has IDs not the user's", tt.name, u)
		}
	}
}

func TestWithMaps(t *testing.T) {
	full := &Plan{Mode: Full, UID: 1001, GID: 1001,
		UIDMap: FullMap(1001, []Range{{100000, 65536}}), GIDMap: FullMap(1001, []Range{{100000, 65536}})}
	if q, err := full.WithMaps(nil, nil); err != nil || q != full {
		t.Fatalf("nil maps: %v %v", q, err)
	}
	q, err := full.WithMaps([]IDMap{{0, 100000, 10}, {10, 1001, 1}}, nil)
	if err != nil || len(q.UIDMap) != 2 || !reflect.DeepEqual(q.GIDMap, full.GIDMap) || len(full.UIDMap) != 2 || full.UIDMap[0].HostID != 1001 {
		t.Fatalf("got %+v, %v (plan %+v)", q, err, full)
	}
	// IDs of another user (the next sub-ID range), the host's root.
	for _, bad := range [][]IDMap{{{0, 165536, 1}}, {{0, 0, 1}}, {{0, 165535, 2}}, {{0, 1000, 1}}} {
		if _, err := full.WithMaps(bad, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
		if _, err := full.WithMaps(nil, bad); err == nil {
			t.Errorf("gid %v accepted", bad)
		}
	}
	single := &Plan{Mode: Single, UID: 1001, GID: 1001, UIDMap: []IDMap{{0, 1001, 1}}, GIDMap: []IDMap{{0, 1001, 1}}}
	if _, err := single.WithMaps([]IDMap{{0, 1001, 1}}, nil); !errors.Is(err, ErrNoSubIDs) {
		t.Errorf("single: %v", err)
	}
}
