package cgroupv2

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/docker/go-units"
)

// Limits are a sandbox's resource limits; zero values mean "no limit".
type Limits struct {
	Memory     int64  `json:"memory,omitempty"`     // bytes (memory.max)
	MemorySwap int64  `json:"memorySwap,omitempty"` // memory+swap bytes, docker's meaning; -1 unlimited swap
	CPUQuota   int64  `json:"cpuQuota,omitempty"`   // µs per CPUPeriod (cpu.max)
	CPUPeriod  int64  `json:"cpuPeriod,omitempty"`
	CPUWeight  int64  `json:"cpuWeight,omitempty"` // 1..10000 (cpu.weight)
	CpusetCpus string `json:"cpusetCpus,omitempty"`
	PidsLimit  int64  `json:"pidsLimit,omitempty"`
}

// Any reports whether a limit is set.
func (l Limits) Any() bool {
	return l.Memory != 0 || l.MemorySwap != 0 || l.CPUQuota != 0 || l.CPUWeight != 0 || l.CpusetCpus != "" || l.PidsLimit != 0
}

// Controllers lists the controllers the limits need.
func (l Limits) Controllers() []string {
	var c []string
	if l.Memory != 0 || l.MemorySwap != 0 {
		c = append(c, "memory")
	}
	if l.CPUQuota != 0 || l.CPUWeight != 0 {
		c = append(c, "cpu")
	}
	if l.CpusetCpus != "" {
		c = append(c, "cpuset")
	}
	if l.PidsLimit != 0 {
		c = append(c, "pids")
	}
	return c
}

// ParseBytes parses a --memory or --memory-swap size as docker and podman
// do, with go-units' RAMInBytes: "512m", "1g", "1.5g", "1024k", "1048576",
// "64MiB", "512 m" (binary units b, k, m, g, t, p in any case, then
// optionally "b" or "ib"). "0" is 0, which means no limit in both.
func ParseBytes(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	// RAMInBytes converts its float to int64 unchecked: a size past the
	// range comes back negative (amd64) or as MaxInt64 (arm64).
	if err != nil || n < 0 || n == math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: use a number with an optional unit b, k, m, g, t or p (512m, 1g)", s)
	}
	return n, nil
}

// ParseCPUs turns --cpus 1.5 into a cpu.max quota and period.
func ParseCPUs(s string) (quota, period int64, err error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1024 {
		return 0, 0, fmt.Errorf("invalid --cpus %q: use a number of CPUs like 0.5 or 2", s)
	}
	period = 100000
	quota = int64(math.Round(f * float64(period)))
	if quota < 1000 {
		quota = 1000
	}
	return quota, period, nil
}

// SharesToWeight converts docker's --cpu-shares (2..262144, default 1024)
// to cgroup v2's cpu.weight (1..10000, default 100), as runc does.
func SharesToWeight(shares int64) int64 {
	if shares <= 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}

// ValidCpuset checks a cpuset list such as "0-2,4".
func ValidCpuset(s string) error {
	if s == "" {
		return fmt.Errorf("empty cpuset")
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return fmt.Errorf("invalid --cpuset-cpus %q: use CPU numbers and ranges like 0-2,4", s)
		}
	}
	return nil
}

// files are the interface files the limits become, in writing order.
func (l Limits) files() [][2]string {
	var f [][2]string
	if l.Memory > 0 {
		f = append(f, [2]string{"memory.max", strconv.FormatInt(l.Memory, 10)})
		switch {
		case l.MemorySwap == -1:
			f = append(f, [2]string{"memory.swap.max", "max"})
		case l.MemorySwap > 0:
			f = append(f, [2]string{"memory.swap.max", strconv.FormatInt(l.MemorySwap-l.Memory, 10)})
		default:
			// docker's default: as much swap as memory. Here: none, so
			// that a memory limit is a memory limit.
			f = append(f, [2]string{"memory.swap.max", "0"})
		}
	}
	if l.CPUQuota > 0 {
		f = append(f, [2]string{"cpu.max", fmt.Sprintf("%d %d", l.CPUQuota, l.CPUPeriod)})
	}
	if l.CPUWeight > 0 {
		f = append(f, [2]string{"cpu.weight", strconv.FormatInt(l.CPUWeight, 10)})
	}
	if l.CpusetCpus != "" {
		f = append(f, [2]string{"cpuset.cpus", l.CpusetCpus})
	}
	// pids.max is written once the sandbox runs (see Cgroup.LimitPids).
	return f
}
