package sandbox

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
	"usandbox/userns"
)

func TestParseUlimit(t *testing.T) {
	tests := []struct {
		in      string
		want    spec.Rlimit
		wantErr string
	}{
		{"nofile=1024", spec.Rlimit{Name: "nofile", Type: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 1024}, ""},
		{"nofile=1024:2048", spec.Rlimit{Name: "nofile", Type: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 2048}, ""},
		{"nproc=10:20", spec.Rlimit{Name: "nproc", Type: unix.RLIMIT_NPROC, Soft: 10, Hard: 20}, ""},
		{"core=-1", spec.Rlimit{Name: "core", Type: unix.RLIMIT_CORE, Soft: unix.RLIM_INFINITY, Hard: unix.RLIM_INFINITY}, ""},
		{"stack=8192:-1", spec.Rlimit{Name: "stack", Type: unix.RLIMIT_STACK, Soft: 8192, Hard: unix.RLIM_INFINITY}, ""},
		{"bogus=1", spec.Rlimit{}, "invalid ulimit type: bogus"},
		{"nofile", spec.Rlimit{}, "invalid ulimit argument"},
		{"nofile=a", spec.Rlimit{}, `invalid --ulimit "nofile=a"`},
		{"nofile=2:1", spec.Rlimit{}, "soft limit must be less than or equal to hard limit"},
		{"nofile=1:2:3", spec.Rlimit{}, "too many limit value arguments"},
		{"nofile=-1:10", spec.Rlimit{}, "soft limit must be less than or equal to hard limit"},
	}
	for _, tt := range tests {
		got, err := ParseUlimit(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseShmSize(t *testing.T) {
	for in, want := range map[string]int64{"64m": 64 << 20, "1g": 1 << 30, "1000": 1000, "0": 0, "512k": 512 << 10} {
		if got, err := ParseShmSize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"abc", "-1", "", "1x"} {
		if _, err := ParseShmSize(in); err == nil || !strings.Contains(err.Error(), "invalid --shm-size") {
			t.Errorf("%q: err %v", in, err)
		}
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in      string
		want    spec.Device
		wantErr string
	}{
		{"/dev/null", spec.Device{Host: "/dev/null", Path: "/dev/null"}, ""},
		{"/dev/zero:/dev/myzero", spec.Device{Host: "/dev/zero", Path: "/dev/myzero"}, ""},
		{"/dev/zero:/dev/sub/z:rwm", spec.Device{Host: "/dev/zero", Path: "/dev/sub/z"}, ""},
		{"/dev/net/tun:rw", spec.Device{Host: "/dev/net/tun", Path: "/dev/net/tun"}, ""},
		{"/dev/null:/dev/n:r", spec.Device{}, "cannot restrict a device"},
		{"/dev/null:w", spec.Device{}, "cannot restrict a device"},
		{"/dev/null:/dev/n:xyz", spec.Device{}, `invalid device mode "xyz"`},
		{"/dev/null:rel", spec.Device{}, `invalid device mode "rel"`},
		{"/dev/null:/tmp/n", spec.Device{}, "must be /dev/NAME"},
		{"/dev/null:/dev/a/b/c", spec.Device{}, "must be /dev/NAME"},
		{"/dev/null:/dev/pts/9", spec.Device{}, "not in pts"},
		{"/dev/null:/dev/shm", spec.Device{}, "not in pts"},
		{"/dev/null:/dev/", spec.Device{}, "must be /dev/NAME"},
		{"/etc/passwd", spec.Device{}, "must be /dev/NAME"},
		{"dev/null:/dev/null", spec.Device{}, "host path must be absolute"},
		{"", spec.Device{}, "want HOST-PATH"},
		{"/a:/dev/b:rw:x", spec.Device{}, "want HOST-PATH"},
	}
	for _, tt := range tests {
		got, err := ParseDevice(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestReadTZRefusesPathsOut(t *testing.T) {
	for _, tz := range []string{"../../etc/passwd", "/etc/passwd", "Europe/../../../etc/passwd", "", "./UTC", "Europe//Paris"} {
		if _, err := readTZ(tz); err == nil || !strings.Contains(err.Error(), "invalid --tz") {
			t.Errorf("%q: err %v", tz, err)
		}
	}
}

func TestApplyUserNS(t *testing.T) {
	plan := &userns.Plan{Mode: userns.Full, UID: 1001, GID: 1001, User: "u",
		UIDMap: userns.FullMap(1001, []userns.Range{{Start: 100000, Count: 65536}}),
		GIDMap: userns.FullMap(1001, []userns.Range{{Start: 100000, Count: 65536}})}
	// keep-id: podman's user, and its entries (home: the working dir,
	// unless the home is mounted).
	s := &spec.Spec{Process: spec.Process{Cwd: "/src"}}
	if err := applyUserNS(s, userns.Request{KeepID: true}, plan, false); err != nil {
		t.Fatal(err)
	}
	if s.Process.User != "1001:1001" || len(s.UIDMap) != 3 || len(s.AddUsers) != 1 || s.AddUsers[0].UID != 1001 || s.AddUsers[0].Home != "/src" || s.AddUsers[0].Shell != "/bin/sh" || len(s.AddGroups) != 1 {
		t.Fatalf("keep-id: %+v", s)
	}
	s = &spec.Spec{Mounts: []spec.Mount{{Type: "bind", Source: "/x", Destination: "/home"}}}
	applyUserNS(s, userns.Request{KeepID: true}, plan, true)
	if s.Process.User != "" {
		t.Fatalf("-u given: user %q", s.Process.User)
	}
	// keep-id:uid=N: the numbered user, podman's "container user".
	n := uint32(70000)
	s = &spec.Spec{}
	if err := applyUserNS(s, userns.Request{KeepID: true, KeepUID: &n}, plan, false); err != nil {
		t.Fatal(err)
	}
	if s.Process.User != "70000:1001" || len(s.AddUsers) != 1 || s.AddUsers[0].Name != "70000" || s.AddUsers[0].Gecos != "container user" || s.AddUsers[0].Home != "/" || s.AddGroups[0].Name != "1001" {
		t.Fatalf("keep-id:uid=70000: %+v", s)
	}
	// The default changes nothing.
	s = &spec.Spec{}
	if err := applyUserNS(s, userns.Request{}, plan, false); err != nil || s.UIDMap != nil || s.Process.User != "" || s.AddUsers != nil {
		t.Fatalf("default: %+v %v", s, err)
	}
	// A map with IDs not the user's never gets into a spec.
	if err := applyUserNS(&spec.Spec{}, userns.Request{UIDMap: []userns.IDMap{{ContainerID: 0, HostID: 0, Size: 70000}}}, plan, false); err == nil {
		t.Fatal("a map past the user's range was accepted")
	}
}

func TestPlanForChecksTheRecord(t *testing.T) {
	plan := &userns.Plan{Mode: userns.Full, UID: 1001, GID: 1001,
		UIDMap: userns.FullMap(1001, []userns.Range{{Start: 100000, Count: 65536}}),
		GIDMap: userns.FullMap(1001, []userns.Range{{Start: 100000, Count: 65536}})}
	if p, err := planFor(plan, &spec.Spec{}); err != nil || p != plan {
		t.Fatalf("default: %v %v", p, err)
	}
	// A record edited to map the host's root, or another user's sub-IDs.
	for _, m := range [][]spec.IDMap{{{ContainerID: 0, HostID: 0, Size: 1}}, {{ContainerID: 0, HostID: 165536, Size: 10}}} {
		if _, err := planFor(plan, &spec.Spec{UIDMap: m}); err == nil {
			t.Errorf("uid map %v accepted", m)
		}
		if _, err := planFor(plan, &spec.Spec{GIDMap: m}); err == nil {
			t.Errorf("gid map %v accepted", m)
		}
	}
}

// TestNumericUserEntries: a numeric -u (or image User) gets podman's
// passwd entry, and its numeric group one, for the lines to add when the
// image has none of that ID or name.
func TestNumericUserEntries(t *testing.T) {
	for _, c := range []struct {
		user, cwd     string
		passwd, group string
	}{
		{"1:1", "", "1:*:1:1:container user:/:/bin/sh", "1:x:1:1"},
		{"1234", "/w", "1234:*:1234:0:container user:/w:/bin/sh", ""},
		{"1000:users", "", "1000:*:1000:0:container user:/:/bin/sh", ""},
		{"nobody", "", "", ""},
		{"nobody:5", "", "", ""},
		{"0", "", "", ""},
		{"", "", "", ""},
	} {
		s := &spec.Spec{Process: spec.Process{User: c.user, Cwd: c.cwd}}
		addNumericUser(s)
		var pw, gr string
		for _, u := range s.AddUsers {
			pw = fmt.Sprintf("%s:%s:%d:%d:%s:%s:%s", u.Name, u.Password, u.UID, u.GID, u.Gecos, u.Home, u.Shell)
		}
		for _, g := range s.AddGroups {
			gr = fmt.Sprintf("%s:x:%d:%s", g.Name, g.GID, g.Members)
		}
		if pw != c.passwd || gr != c.group {
			t.Errorf("-u %q: passwd %q group %q, want %q %q", c.user, pw, gr, c.passwd, c.group)
		}
	}
}
