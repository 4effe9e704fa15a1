package ociruntime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// bundle makes a bundle directory with a rootfs and returns a config
// that convert takes: every case below changes one thing.
func bundle(t *testing.T) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultSpec(true)
	cfg.Process.Terminal = false
	return dir, cfg
}

func TestConvertRefusesByName(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	for _, tt := range []struct {
		name, want string
		change     func(*specs.Spec)
	}{
		{"apparmor", "process.apparmorProfile", func(s *specs.Spec) { s.Process.ApparmorProfile = "x" }},
		{"selinux", "process.selinuxLabel", func(s *specs.Spec) { s.Process.SelinuxLabel = "x" }},
		{"intelRdt", "linux.intelRdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} }},
		{"personality", "linux.personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{} }},
		{"time namespace", `linux.namespaces type "time"`, func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}},
		{"no mount namespace", "no mount namespace", func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.MountNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}},
		{"namespace twice", "given twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}},
		{"user namespace without maps", "uidMappings or gidMappings is empty", func(s *specs.Spec) { s.Linux.UIDMappings = nil }},
		{"hostname without uts", "UTS namespace", func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.UTSNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}},
		{"unknown rlimit", `unknown type "RLIMIT_NOPE"`, func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}}
		}},
		{"relative cwd", "must be an absolute path", func(s *specs.Spec) { s.Process.Cwd = "tmp" }},
		{"no args", "process.args is empty", func(s *specs.Spec) { s.Process.Args = nil }},
		{"idmapped mount", "idmapped mounts", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}},
		{"blkio", "linux.resources.blockIO", func(s *specs.Spec) { s.Linux.Resources = &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{}} }},
		{"swappiness", "memory.swappiness", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(1)}}
		}},
		{"reservation", "memory.reservation", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(1 << 20)}}
		}},
		{"cpu mems", "cpu.mems", func(s *specs.Spec) { s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "0"}} }},
		{"bad propagation", "rootfsPropagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }},
		{"seccomp listener", "listenerPath", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/x.sock"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, cfg := bundle(t)
			tt.change(cfg)
			c, err := convert("c1", dir, cfg, t.TempDir())
			if err == nil {
				c.closeJoin()
				t.Fatalf("convert took it; want an error naming %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestConvert(t *testing.T) {
	dir, cfg := bundle(t)
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	cfg.Mounts = append(cfg.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind", "ro"}})
	cfg.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}}
	cfg.Process.User = specs.User{UID: 5, GID: 6, AdditionalGids: []uint32{7}}
	cfg.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
	cfg.Linux.Resources = &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000)},
		Pids:    &specs.LinuxPids{Limit: i64(99)},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	c, err := convert("c1", dir, cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.closeJoin()
	want := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUSER)
	if c.flags != want || c.all != want || !c.newUser {
		t.Errorf("namespaces: flags %#x all %#x newUser %v; want %#x", c.flags, c.all, c.newUser, want)
	}
	o := c.spec.OCI
	if o.NetNS || !o.UTS || !o.BindDevices || !c.spec.UserNS {
		t.Errorf("netns %v uts %v bindDevices %v userns %v: want false, true, true, true", o.NetNS, o.UTS, o.BindDevices, c.spec.UserNS)
	}
	if o.Rootfs != filepath.Join(dir, "rootfs") || !c.spec.ReadOnly {
		t.Errorf("rootfs %q readonly %v", o.Rootfs, c.spec.ReadOnly)
	}
	last := o.Mounts[len(o.Mounts)-1]
	if last.Source != filepath.Join(dir, "data") || last.Destination != "/data" {
		t.Errorf("a relative bind source is the bundle's: got %+v", last)
	}
	if o.UID != 5 || o.GID != 6 || len(o.AdditionalGids) != 1 || o.AdditionalGids[0] != 7 {
		t.Errorf("user: %d:%d %v", o.UID, o.GID, o.AdditionalGids)
	}
	if r := c.spec.Process.Rlimits; len(r) != 1 || r[0].Type != unix.RLIMIT_NOFILE || r[0].Soft != 10 || r[0].Hard != 20 {
		t.Errorf("rlimits: %+v", r)
	}
	if len(o.Devices) != 1 || o.Devices[0].Path != "/dev/fuse" || o.Devices[0].Major != 10 {
		t.Errorf("devices: %+v", o.Devices)
	}
	l := c.limits
	if l.Memory != 64<<20 || l.CPUWeight != 39 || l.CPUQuota != 50000 || l.CPUPeriod != 100000 || l.PidsLimit != 99 {
		t.Errorf("limits: %+v", l)
	}
	if c.spec.SeccompProfile != "unconfined" || c.spec.Seccomp != nil {
		t.Errorf("no linux.seccomp: want no filter, got %q", c.spec.SeccompProfile)
	}
	if got := o.Caps.Bounding; len(got) != 3 {
		t.Errorf("capabilities: %v", got)
	}
}
