// Package cgroupv2 finds the cgroup v2 subtree delegated to the user, so
// that sandboxes can get resource limits without root.
package cgroupv2

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Layouts of the cgroup hierarchy.
const (
	Unified = "unified" // cgroup v2 only: limits can work
	Hybrid  = "hybrid"  // v1 controllers plus an empty-ish v2 tree
	Legacy  = "legacy"  // cgroup v1 only
)

// Info is what the host offers this process.
type Info struct {
	Layout string `json:"layout"`
	// Mount is where the v2 hierarchy is mounted ("" if nowhere).
	Mount string `json:"mount"`
	// Path is this process's cgroup in the v2 hierarchy ("/user.slice/…").
	Path string `json:"path"`
	// Controllers are the controllers available in Path.
	Controllers []string `json:"controllers"`
	// Writable: this user may create child cgroups and move processes
	// (cgroup.procs and cgroup.subtree_control are writable).
	Writable bool `json:"writable"`
}

// Dir is the directory of Path.
func (i *Info) Dir() string { return filepath.Join(i.Mount, i.Path) }

// Has reports whether controller c is available.
func (i *Info) Has(c string) bool {
	for _, x := range i.Controllers {
		if x == c {
			return true
		}
	}
	return false
}

// Detect looks at the running host.
func Detect() (*Info, error) {
	info := &Info{}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return nil, fmt.Errorf("cgroupv2: %w", err)
	}
	switch {
	case st.Type == unix.CGROUP2_SUPER_MAGIC:
		info.Layout, info.Mount = Unified, "/sys/fs/cgroup"
	default:
		info.Layout = Legacy
		if err := unix.Statfs("/sys/fs/cgroup/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			info.Layout, info.Mount = Hybrid, "/sys/fs/cgroup/unified"
		}
	}
	if info.Mount == "" {
		return info, nil
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroupv2: %w", err)
	}
	defer f.Close()
	if info.Path, err = ParseProcCgroup(f); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(info.Dir(), "cgroup.controllers")); err == nil {
		info.Controllers = strings.Fields(string(b))
	}
	info.Writable = unix.Access(filepath.Join(info.Dir(), "cgroup.procs"), unix.W_OK) == nil &&
		unix.Access(filepath.Join(info.Dir(), "cgroup.subtree_control"), unix.W_OK) == nil
	return info, nil
}

// ParseProcCgroup returns the v2 path ("0::PATH") from /proc/PID/cgroup.
func ParseProcCgroup(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p, ok := bytes.CutPrefix(sc.Bytes(), []byte("0::")); ok {
			return string(p), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("cgroupv2: %w", err)
	}
	return "", fmt.Errorf("cgroupv2: no cgroup v2 entry in /proc/self/cgroup")
}
