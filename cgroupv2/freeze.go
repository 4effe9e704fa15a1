package cgroupv2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CheckOps says, with the fix, why this host cannot do what (pause,
// stats) to a sandbox's cgroup: they need cgroup v2, where a sandbox's
// cgroup has a freezer (cgroup.freeze) and its statistics. Nil if it can
// (whether a sandbox has a cgroup at all is its own matter).
func (i *Info) CheckOps(what string) error {
	switch i.Layout {
	case Legacy:
		return fmt.Errorf("%s needs cgroup v2 and this host has cgroup v1 only; fix: %s", what, bootFix)
	case Hybrid:
		return fmt.Errorf("%s needs cgroup v2 and this host is hybrid (v1 controllers; cgroup2 at %s has %s); fix: %s",
			what, i.Mount, listOrNone(i.Controllers), bootFix)
	}
	return nil
}

// Frozen reports whether the cgroup is frozen (cgroup.freeze is 1).
func (c *Cgroup) Frozen() bool {
	b, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.freeze"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// Freeze freezes (on) or thaws the cgroup and waits up to 5 s for the
// kernel to report it done (cgroup.events "frozen").
func (c *Cgroup) Freeze(on bool) error {
	v, want := "0", "frozen 0"
	if on {
		v, want = "1", "frozen 1"
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "cgroup.freeze"), []byte(v), 0); err != nil {
		return fmt.Errorf("cgroup: writing cgroup.freeze: %w", err)
	}
	for try := 0; try < 500; try++ {
		b, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.events"))
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		if bytes.Contains(b, []byte(want)) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("cgroup: the freezer did not settle in 5 s")
}

// Stats are a cgroup's counters, as podman's stats shows them.
type Stats struct {
	CPUUsec     uint64 // cpu.stat usage_usec
	MemUsage    uint64 // memory.current
	MemLimit    uint64 // memory.max; 0 for max (none)
	ReadBytes   uint64 // io.stat rbytes, all devices
	WriteBytes  uint64 // io.stat wbytes
	Pids        uint64 // pids.current
	HasMemory   bool   // the memory controller is on
	HasIO, HasP bool   // io, pids likewise
}

// Stats reads the cgroup's counters. A controller that is not enabled
// for the cgroup has no files: its counters stay 0 and its Has* false.
func (c *Cgroup) Stats() (Stats, error) {
	var s Stats
	b, err := os.ReadFile(filepath.Join(c.Dir, "cpu.stat"))
	if err != nil {
		return s, fmt.Errorf("cgroup: %w", err)
	}
	s.CPUUsec = keyed(b, "usage_usec")
	if v, ok := readUint(filepath.Join(c.Dir, "memory.current")); ok {
		s.MemUsage, s.HasMemory = v, true
		s.MemLimit, _ = readUint(filepath.Join(c.Dir, "memory.max"))
	}
	if v, ok := readUint(filepath.Join(c.Dir, "pids.current")); ok {
		s.Pids, s.HasP = v, true
	}
	if b, err := os.ReadFile(filepath.Join(c.Dir, "io.stat")); err == nil {
		s.HasIO = true
		s.ReadBytes, s.WriteBytes = ioBytes(b)
	}
	return s, nil
}

// keyed is the value of "key N" in a flat-keyed cgroup file.
func keyed(b []byte, key string) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == key {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// ioBytes adds up rbytes= and wbytes= over the devices of io.stat.
func ioBytes(b []byte) (r, w uint64) {
	for _, f := range strings.Fields(string(b)) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "rbytes":
			r += n
		case "wbytes":
			w += n
		}
	}
	return r, w
}

// readUint reads a one-number file; "max" reads as 0.
func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, true
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
