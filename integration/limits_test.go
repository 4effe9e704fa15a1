//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupV2 reports whether this host has the unified cgroup v2 hierarchy.
func cgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// On a host without (delegated) cgroup v2 every limit flag is refused
// before anything starts, and run without one works. hack/vmtest runs
// the real limits in a VM with pure cgroup v2.
func TestLimitsRefusedWithoutCgroupV2(t *testing.T) {
	if cgroupV2() {
		t.Skip("this host has cgroup v2: TestLimits covers it")
	}
	s := withImages(t, false)
	for _, flags := range [][]string{
		{"--memory", "64m"}, {"--memory", "64m", "--memory-swap", "128m"}, {"--cpus", "0.5"},
		{"--cpu-shares", "512"}, {"--cpu-weight", "50"}, {"--cpuset-cpus", "0"}, {"--pids-limit", "10"},
	} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			r := s.fails(125, "systemd.unified_cgroup_hierarchy=1", append(append([]string{"run", "--rm"}, flags...), "busybox", "true")...)
			if !strings.Contains(r.stderr, "cgroup v2") {
				t.Fatalf("the error does not name cgroup v2: %s", r.stderr)
			}
		})
	}
	s.fails(125, "--memory", "run", "--rm", "--memory", "lots", "busybox", "true")
	s.assertNoSandboxes()
	s.ok("run", "--rm", "busybox", "true")
}

// TestLimits needs delegated cgroup v2 (hack/vmtest provides it; CI runs
// it there as uid 1000).
func TestLimits(t *testing.T) {
	if !cgroupV2() {
		t.Skip("this host has no cgroup v2 hierarchy (hybrid or v1): hack/vmtest runs this test in a VM")
	}
	s := withImages(t, false)

	t.Run("memory", func(t *testing.T) {
		s := s.with(t)
		// 100 MB into a shell variable under --memory 32m.
		const grab = `a=$(head -c 104857600 /dev/zero | tr '\0' x); echo survived`
		r := s.run("run", "--rm", "--memory", "32m", "busybox", "sh", "-c", grab)
		if r.code != 137 || strings.Contains(r.stdout, "survived") {
			t.Fatalf("100 MB under --memory 32m: exit %d, %+v", r.code, r)
		}
		assertOneErrorLine(t, r.stderr, "ran out of memory (--memory 32m)")
		id := strings.TrimSpace(s.ok("run", "-d", "--memory", "32m", "busybox", "sh", "-c", grab))
		// Under TCG (hack/vmtest) filling 32 MB takes a while.
		waitForUpTo(t, 90*time.Second, "the OOM kill", func() bool { return !s.inspect(id).State.Running })
		if st := s.inspect(id).State; !st.OOMKilled || st.ExitCode != 137 {
			t.Fatalf("inspect after OOM: %+v", st)
		}
		s.ok("rm", id)
	})

	t.Run("pids", func(t *testing.T) {
		s := s.with(t)
		const spawn = `i=0; while [ $i -lt 30 ]; do sleep 2 & i=$((i+1)); done; echo started-all`
		r := s.run("run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c", spawn)
		if r.code == 0 || strings.Contains(r.stdout, "started-all") || !strings.Contains(r.stderr, "fork") {
			t.Fatalf("30 forks under --pids-limit 10: %+v", r)
		}
		if out := s.ok("run", "--rm", "--pids-limit", "60", "busybox", "sh", "-c", spawn); !strings.Contains(out, "started-all") {
			t.Fatalf("30 forks under --pids-limit 60: %q", out)
		}
	})

	t.Run("cpus", func(t *testing.T) {
		s := s.with(t)
		// The sandbox's CPU time over 3 s of wall time with a busy loop,
		// both read inside around the loop only (not the start-up).
		out := s.ok("run", "--rm", "--cpus", "0.5", "busybox", "sh", "-c", `
			usage() { awk '/^usage_usec/ { print $2 }' /sys/fs/cgroup/cpu.stat; }
			(while :; do :; done) & p=$!
			sleep 0.5
			c1=$(usage); read u1 rest < /proc/uptime
			sleep 3
			c2=$(usage); read u2 rest < /proc/uptime
			kill $p
			echo $c1 $c2 $u1 $u2`)
		f := strings.Fields(out)
		if len(f) != 4 {
			t.Fatalf("measurement: %q", out)
		}
		c1, _ := strconv.ParseFloat(f[0], 64)
		c2, _ := strconv.ParseFloat(f[1], 64)
		u1, _ := strconv.ParseFloat(f[2], 64)
		u2, _ := strconv.ParseFloat(f[3], 64)
		share := (c2 - c1) / 1e6 / (u2 - u1)
		t.Logf("a busy loop got %.0f%% of a CPU under --cpus 0.5", share*100)
		if share < 0.40 || share > 0.60 {
			t.Fatalf("a busy loop got %.0f%% of a CPU under --cpus 0.5 (want 40-60%%)", share*100)
		}
	})

	t.Run("cpuset", func(t *testing.T) {
		s := s.with(t)
		if n := numCPU(); n < 2 {
			t.Skipf("the host has %d CPU: --cpuset-cpus 1 needs two", n)
		}
		out := s.ok("run", "--rm", "--cpuset-cpus", "1", "busybox", "grep", "Cpus_allowed_list", "/proc/self/status")
		if !strings.HasSuffix(strings.TrimSpace(out), "\t1") {
			t.Fatalf("Cpus_allowed_list: %q", out)
		}
	})

	t.Run("cannot raise its own limits", func(t *testing.T) {
		s := s.with(t)
		out := s.ok("run", "--rm", "--memory", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
			"cat /proc/self/cgroup; echo max > /sys/fs/cgroup/pids.max 2>/dev/null && echo RAISED; echo max > /sys/fs/cgroup/memory.max 2>/dev/null && echo RAISED; mkdir /sys/fs/cgroup/x 2>/dev/null && echo MADE; echo done")
		if strings.Contains(out, "RAISED") || strings.Contains(out, "MADE") || !strings.Contains(out, "0::/\n") {
			t.Fatalf("inside the sandbox: %q", out)
		}
	})

	t.Run("cgroup removed after exit", func(t *testing.T) {
		s := s.with(t)
		// Where usandbox made each sandbox's cgroup, as the sandbox's
		// processes show it.
		c := s.cmd("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", "echo ready >&2; exec sleep 1234")
		_, done := startUntil(t, c, "ready")
		sleep := 0
		for _, pid := range ourProcesses() {
			if strings.Contains(cmdline(pid), "sleep\x001234") {
				sleep = pid
			}
		}
		if sleep == 0 {
			c.Process.Kill()
			t.Fatal("the --rm sandbox's sleep is not running")
		}
		dirs := []string{sandboxCgroup(t, sleep)}
		syscall.Kill(sleep, syscall.SIGKILL)
		if code := exitCode(<-done); code != 137 {
			t.Fatalf("run --rm after its command's SIGKILL: exit %d, want 137", code)
		}
		id := strings.TrimSpace(s.ok("run", "-d", "--pids-limit", "20", "busybox", "sleep", "1000"))
		dirs = append(dirs, sandboxCgroup(t, s.inspect(id).State.Pid))
		s.ok("kill", id)
		s.ok("rm", id)
		for _, d := range dirs {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("cgroup left behind: %s (%v)", d, err)
			}
		}
	})
}

// sandboxCgroup returns the cgroup usandbox made for the sandbox that pid
// runs in (usandbox-ID, whose leaf "sandbox" holds the sandbox's
// processes), read from /proc/PID/cgroup while it exists.
func sandboxCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			leaf := filepath.Join("/sys/fs/cgroup", p)
			dir := filepath.Dir(leaf)
			if filepath.Base(leaf) != "sandbox" || !strings.HasPrefix(filepath.Base(dir), "usandbox-") {
				t.Fatalf("pid %d is in cgroup %s, not in a sandbox's usandbox-ID/sandbox", pid, p)
			}
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("the sandbox's cgroup: %v", err)
			}
			return dir
		}
	}
	t.Fatalf("pid %d has no cgroup v2 entry:\n%s", pid, b)
	return ""
}

func numCPU() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return 1
	}
	return set.Count()
}
