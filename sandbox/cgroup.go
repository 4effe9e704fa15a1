package sandbox

import (
	"os"
	"path/filepath"
	"strings"

	"usandbox/cgroupv2"
)

// StatusPaused: the sandbox runs, frozen (pause); State.Running and
// State.Paused are true.
const StatusPaused = "paused"

// Cgroup is the running sandbox's own cgroup, or nil if it has none (it
// was started without resource limits, or is not running).
func (s *Sandbox) Cgroup() *cgroupv2.Cgroup {
	return cgroupOf(s.Dir)
}

func cgroupOf(dir string) *cgroupv2.Cgroup {
	b, err := os.ReadFile(filepath.Join(dir, cgroupFile))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	return &cgroupv2.Cgroup{Dir: strings.TrimSpace(string(b))}
}

// paused reports whether the sandbox in dir has a frozen cgroup.
func paused(dir string) bool {
	cg := cgroupOf(dir)
	return cg != nil && cg.Frozen()
}
