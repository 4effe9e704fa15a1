package inner

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"usandbox/sandbox/spec"
)

func TestHasEntry(t *testing.T) {
	const passwd = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\nbad line\n"
	tests := []struct {
		name string
		id   uint32
		want bool
	}{
		{"root", 5, true}, {"user", 5, true}, {"other", 1000, true}, {"other", 0, true}, {"other", 1001, false}, {"bad line", 1, false},
	}
	for _, tt := range tests {
		if got := hasEntry([]byte(passwd), tt.name, tt.id); got != tt.want {
			t.Errorf("%s/%d: %v", tt.name, tt.id, got)
		}
	}
}

func TestAddEntries(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// No newline at the end of the image's passwd; no group file.
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := &spec.Spec{
		AddUsers:  []spec.PasswdEntry{{Name: "me", Password: "*", UID: 1001, GID: 1001, Home: "/src", Shell: "/bin/sh"}, {Name: "root2", UID: 0}},
		AddGroups: []spec.GroupEntry{{Name: "me", GID: 1001, Members: "me"}},
	}
	if err := addEntries(r, s); err != nil {
		t.Fatal(err)
	}
	pw, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if want := "root:x:0:0:root:/root:/bin/sh\nme:*:1001:1001::/src:/bin/sh\n"; string(pw) != want {
		t.Fatalf("passwd %q, want %q", pw, want)
	}
	gr, _ := os.ReadFile(filepath.Join(root, "etc", "group"))
	if string(gr) != "me:x:1001:me\n" {
		t.Fatalf("group %q", gr)
	}
	// Again: nothing added twice.
	if err := addEntries(r, s); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(root, "etc", "passwd")); string(again) != string(pw) {
		t.Fatalf("passwd changed: %q", again)
	}
	// A symlink out of the root is resolved inside it.
	if err := os.Remove(filepath.Join(root, "etc", "group")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "group")
	os.WriteFile(outside, nil, 0o644)
	if err := os.Symlink(outside, filepath.Join(root, "etc", "group")); err != nil {
		t.Fatal(err)
	}
	addEntries(r, s)
	if b, _ := os.ReadFile(outside); len(b) != 0 {
		t.Fatalf("wrote outside the root: %q", b)
	}
}

func TestAddGroups(t *testing.T) {
	group := []byte("root:x:0:\naudio:x:29:user\n")
	u := &execUser{UID: 0, GID: 0, Groups: []uint32{29}}
	if err := addGroups(u, []string{"audio", "1234", "0", "1234"}, group); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u.Groups, []uint32{29, 1234}) {
		t.Fatalf("groups %v", u.Groups)
	}
	if err := addGroups(u, []string{"nosuch"}, group); err == nil {
		t.Fatal("unknown group accepted")
	}
}

func TestWithDevices(t *testing.T) {
	devs, binds := withDevices([]string{"null", "zero"}, []spec.Device{{Host: "/dev/zero", Path: "/dev/myzero"}, {Host: "/dev/full", Path: "/dev/null"}, {Host: "/dev/net/tun", Path: "/dev/net/tun"}})
	if !reflect.DeepEqual(devs, []string{"null", "zero", "myzero", "net/tun"}) {
		t.Fatalf("devs %v", devs)
	}
	want := map[string]string{"null": "/dev/full", "zero": "/dev/zero", "myzero": "/dev/zero", "net/tun": "/dev/net/tun"}
	if !reflect.DeepEqual(binds, want) {
		t.Fatalf("binds %v", binds)
	}
}

func TestShmSize(t *testing.T) {
	n, z := int64(1000), int64(0)
	for _, tt := range []struct {
		in   *int64
		want string
	}{{nil, "size=65536k"}, {&n, "size=1000"}, {&z, "size=0"}} {
		if got := shmSize(tt.in); got != tt.want {
			t.Errorf("%v: %q", tt.in, got)
		}
	}
}

func TestTTYGroupMapped(t *testing.T) {
	for _, tt := range []struct {
		m    []spec.IDMap
		want bool
	}{
		{nil, true},
		{[]spec.IDMap{{ContainerID: 0, HostID: 1001, Size: 1}}, false},
		{[]spec.IDMap{{ContainerID: 0, HostID: 100000, Size: 5}}, false},
		{[]spec.IDMap{{ContainerID: 0, HostID: 100000, Size: 6}}, true},
		{[]spec.IDMap{{ContainerID: 0, HostID: 1, Size: 1}, {ContainerID: 5, HostID: 7, Size: 1}}, true},
	} {
		if got := ttyGroupMapped(tt.m); got != tt.want {
			t.Errorf("%v: %v", tt.m, got)
		}
	}
}
