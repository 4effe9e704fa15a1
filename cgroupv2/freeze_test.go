package cgroupv2

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStatsFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"cpu.stat":       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
		"memory.current": "4096\n",
		"memory.max":     "max\n",
		"pids.current":   "3\n",
		"io.stat":        "8:0 rbytes=100 wbytes=20 rios=1 wios=1\n8:16 rbytes=1 wbytes=2 rios=1 wios=1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := (&Cgroup{Dir: dir}).Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{CPUUsec: 1500, MemUsage: 4096, MemLimit: 0, ReadBytes: 101, WriteBytes: 22, Pids: 3, HasMemory: true, HasIO: true, HasP: true}
	if s != want {
		t.Fatalf("Stats: %+v, want %+v", s, want)
	}
	// Without the memory, io and pids controllers: their counters are 0.
	for _, f := range []string{"memory.current", "memory.max", "pids.current", "io.stat"} {
		os.Remove(filepath.Join(dir, f))
	}
	if s, err := (&Cgroup{Dir: dir}).Stats(); err != nil || s != (Stats{CPUUsec: 1500}) {
		t.Fatalf("Stats without controllers: %+v %v", s, err)
	}
	if _, err := (&Cgroup{Dir: filepath.Join(dir, "none")}).Stats(); err == nil {
		t.Fatal("Stats of no cgroup succeeded")
	}
}

func TestCheckOps(t *testing.T) {
	for _, i := range []*Info{{Layout: Legacy}, {Layout: Hybrid, Mount: "/sys/fs/cgroup/unified"}} {
		if err := i.CheckOps("pause"); err == nil {
			t.Errorf("CheckOps on %s: nil", i.Layout)
		}
	}
	if err := (&Info{Layout: Unified}).CheckOps("pause"); err != nil {
		t.Errorf("CheckOps on unified: %v", err)
	}
}
