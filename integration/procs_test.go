//go:build integration

package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The test process is a child subreaper: whatever it starts, including a
// detached sandbox's monitor once `run -d` has exited and a helper that
// daemonizes, stays its descendant in /proc. The checks that no sandbox,
// helper or pull is left running therefore look only at descendants of
// this process (ours), and other users' or other test runs' sandboxes on
// the same machine neither fail nor fool them. Orphans that exit become
// zombies of this process until it ends: harmless, and not "running"
// (their cmdline is empty and their exe unreadable).
func init() {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "integration: PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(2)
	}
}

// ourProcesses returns the pids that descend from this test process.
func ourProcesses() []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			parent[pid] = ppid
		}
	}
	self := os.Getpid()
	var out []int
	for pid := range parent {
		for p, n := parent[pid], 0; p > 1 && n < 1000; p, n = parent[p], n+1 {
			if p == self {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// cmdline returns pid's argv joined with NULs ("" for a zombie or a gone process).
func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(b)
}
