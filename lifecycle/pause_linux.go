package lifecycle

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"usandbox/cgroupv2"
	"usandbox/sandbox"
)

// cgroupOf is the running sandbox's cgroup for what (pause, stats): an
// ErrHostCannot with the fix where this host has no cgroup v2 for it, or
// where the sandbox was started without one.
func (e *Engine) cgroupOf(ctx context.Context, ref, what string) (*Sandbox, *cgroupv2.Cgroup, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	info, err := cgroupv2.Detect()
	if err != nil {
		return nil, nil, err
	}
	if err := info.CheckOps(what); err != nil {
		return nil, nil, as(ErrHostCannot, err)
	}
	if !sb.State.Running {
		return nil, nil, notRunning(sb)
	}
	cg := sb.Cgroup()
	if cg == nil {
		return nil, nil, as(ErrHostCannot, fmt.Errorf("sandbox %s has no cgroup of its own, so %s cannot reach it: only a sandbox started with a resource limit has one; fix: start it with one (e.g. --pids-limit 10000)", ref, what))
	}
	return sb, cg, nil
}

// Pause freezes every process of a running sandbox (cgroup v2 freezer).
func (e *Engine) Pause(ctx context.Context, ref string) error {
	sb, cg, err := e.cgroupOf(ctx, ref, "pause")
	if err != nil {
		return err
	}
	if sb.State.Paused {
		return as(ErrConflict, fmt.Errorf("sandbox %s is already paused", ref))
	}
	return cg.Freeze(true)
}

// Unpause thaws a paused sandbox.
func (e *Engine) Unpause(ctx context.Context, ref string) error {
	sb, cg, err := e.cgroupOf(ctx, ref, "unpause")
	if err != nil {
		return err
	}
	if !sb.State.Paused {
		return as(ErrConflict, fmt.Errorf("sandbox %s is not paused", ref))
	}
	return cg.Freeze(false)
}

// Stats is one sample of a running sandbox's resource use.
type Stats struct {
	ID, Name string
	// CPU is the command's CPU time since it started; CPUPercent that
	// time over the time it has run.
	CPU        time.Duration
	CPUPercent float64
	// MemLimit is the --memory limit, else the host's memory.
	MemUsage, MemLimit  uint64
	NetRx, NetTx        uint64 // bytes, every interface but lo
	BlockRead, BlockOut uint64
	Pids                uint64
}

// Stats samples a running sandbox's cgroup (and its network namespace's
// counters).
func (e *Engine) Stats(ctx context.Context, ref string) (*Stats, error) {
	sb, cg, err := e.cgroupOf(ctx, ref, "stats")
	if err != nil {
		return nil, err
	}
	c, err := cg.Stats()
	if err != nil {
		return nil, err
	}
	st := &Stats{
		ID: sb.ID, Name: sb.Name, CPU: time.Duration(c.CPUUsec) * time.Microsecond,
		MemUsage: c.MemUsage, MemLimit: c.MemLimit, BlockRead: c.ReadBytes, BlockOut: c.WriteBytes, Pids: c.Pids,
	}
	if up := time.Since(sb.State.StartedAt); up > 0 {
		st.CPUPercent = 100 * st.CPU.Seconds() / up.Seconds()
	}
	if st.MemLimit == 0 {
		st.MemLimit = hostMemory()
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", sb.State.Pid)); err == nil {
		st.NetRx, st.NetTx = netBytes(b)
	}
	if !sandbox.Locked(sb.Dir) {
		return nil, notRunning(sb)
	}
	return st, nil
}

// netBytes adds up the received and sent bytes of /proc/net/dev, but lo's.
func netBytes(b []byte) (rx, tx uint64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}

// hostMemory is MemTotal of /proc/meminfo, in bytes.
func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// thaw unpauses a paused sandbox before a stop signals it, as docker
// does: a frozen command cannot act on SIGTERM (SIGKILL, and so
// cgroup.kill, reaches it all the same).
func thaw(sb *Sandbox) error {
	if !sb.State.Paused {
		return nil
	}
	if cg := sb.Cgroup(); cg != nil {
		return cg.Freeze(false)
	}
	return nil
}
