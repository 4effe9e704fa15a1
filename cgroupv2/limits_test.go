package cgroupv2

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseBytes: --memory and --memory-swap take what docker and podman
// take (both parse them with go-units' RAMInBytes): a number, optionally
// fractional, then an optional unit b, k, m, g, t or p (binary, any case),
// optionally followed by "b" or "ib" and preceded by one space. 0 is no
// limit, as in both.
func TestParseBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"512m", 512 << 20}, {"1g", 1 << 30}, {"1G", 1 << 30}, {"64k", 64 << 10}, {"1024k", 1 << 20},
		{"1048576", 1048576}, {"100b", 100}, {"1.5g", 3 << 29}, {"32mb", 32 << 20}, {"32MB", 32 << 20},
		{"1t", 1 << 40}, {"1p", 1 << 50}, {"1KiB", 1 << 10}, {"2GiB", 2 << 30}, {"512 m", 512 << 20},
		{"0", 0}, {"0m", 0},
	} {
		got, err := ParseBytes(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// TestParseBytesJunk: what neither docker nor podman takes is refused,
// never read as some other size (the hand-written parser stripped any run
// of unit letters, so "1kkk" was 1 KiB, and took "nan" as a negative limit).
func TestParseBytesJunk(t *testing.T) {
	for _, in := range []string{
		"", "ten", "m", "-1m", "-1", "1kkk", "1kbkb", "1bk", "1mm", "1gg", "1bb", "1mbb", "1kib2",
		"1x", "1e", "1.2.3m", "nan", "NaN", "inf", "+Inf", "infinity", "1 kk", " 512m", "512m ", "512  m",
		// Larger than an int64 holds: refused, not wrapped to a negative.
		"1e30", "9999999999p", "8388608t", "1e400",
	} {
		if got, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), "512m") {
			t.Errorf("ParseBytes(%q): %v: the error should show the form (512m)", in, err)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	for _, tt := range []struct {
		in            string
		quota, period int64
		ok            bool
	}{{"1.5", 150000, 100000, true}, {"0.5", 50000, 100000, true}, {"2", 200000, 100000, true}, {"0.001", 1000, 100000, true}, {"0", 0, 0, false}, {"x", 0, 0, false}} {
		q, p, err := ParseCPUs(tt.in)
		if (err == nil) != tt.ok || q != tt.quota || p != tt.period {
			t.Errorf("ParseCPUs(%q) = %d %d %v", tt.in, q, p, err)
		}
	}
}

func TestSharesAndCpuset(t *testing.T) {
	if w := SharesToWeight(1024); w != 39 {
		t.Errorf("1024 shares -> %d", w)
	}
	if w := SharesToWeight(2); w != 1 {
		t.Errorf("2 shares -> %d", w)
	}
	if w := SharesToWeight(262144); w != 10000 {
		t.Errorf("max shares -> %d", w)
	}
	for _, ok := range []string{"0", "0-2", "0-2,4", "1,3"} {
		if err := ValidCpuset(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "2-1", "1,,2", "-1"} {
		if err := ValidCpuset(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLimitFiles(t *testing.T) {
	l := Limits{Memory: 32 << 20, CPUQuota: 50000, CPUPeriod: 100000, CPUWeight: 39, CpusetCpus: "1", PidsLimit: 10}
	want := [][2]string{{"memory.max", "33554432"}, {"memory.swap.max", "0"}, {"cpu.max", "50000 100000"},
		{"cpu.weight", "39"}, {"cpuset.cpus", "1"}}
	if got := l.files(); !reflect.DeepEqual(got, want) {
		t.Errorf("files: %v", got)
	}
	if c := strings.Join(l.Controllers(), ","); c != "memory,cpu,cpuset,pids" {
		t.Errorf("controllers %s", c)
	}
	if (Limits{}).Any() {
		t.Error("empty limits say Any")
	}
}

func TestCheckHybrid(t *testing.T) {
	i := &Info{Layout: Hybrid, Mount: "/sys/fs/cgroup/unified", Controllers: []string{"hugetlb"}}
	err := i.Check(Limits{Memory: 1})
	if err == nil || !strings.Contains(err.Error(), "hybrid") || !strings.Contains(err.Error(), "systemd.unified_cgroup_hierarchy=1") {
		t.Fatalf("hybrid: %v", err)
	}
	if err := i.Check(Limits{}); err != nil {
		t.Fatalf("no limits on a hybrid host: %v", err)
	}
	if err := (&Info{Layout: Legacy}).Check(Limits{PidsLimit: 5}); err == nil || !strings.Contains(err.Error(), "v1 only") {
		t.Fatalf("legacy: %v", err)
	}
}
