package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The suite's programs make their bundles with os.MkdirTemp("", …), so a
// column's TMPDIR holds every bundle of that column and nothing else. What
// the programs leave there is cleaned up after the column:
//   - containers whose bundle is inside it (a program killed at its
//     timeout, or one that returns before its own cleanup): the runtime's
//     "delete --force";
//   - mounts inside it: as root the programs run in the host's mount
//     namespace, and a container with rootfsPropagation "shared" leaves its
//     /proc, /sys and /dev mounts on the host's copy of its bundle;
//   - then the directory, but only when no mount is left below it, so that
//     removing it never reaches through a bind mount into the host.

// cleanupColumn deletes the column's leftover containers, unmounts what is
// mounted below tmp, removes tmp, and says what it did.
func cleanupColumn(rt string, as runAs, env []string, tmp string) string {
	var done []string
	if n, err := deleteContainers(rt, as, env, tmp); err != nil {
		done = append(done, "listing or deleting containers: "+err.Error())
	} else if n > 0 {
		done = append(done, fmt.Sprintf("deleted %d container(s) left behind", n))
	}
	n, left, err := unmountBelow(tmp)
	switch {
	case err != nil:
		done = append(done, "reading mountinfo: "+err.Error())
	case n > 0:
		done = append(done, fmt.Sprintf("unmounted %d mount(s) left on the host", n))
	}
	if err == nil && len(left) == 0 {
		if err := os.RemoveAll(tmp); err != nil {
			done = append(done, "removing "+tmp+": "+err.Error())
		}
	} else if len(left) > 0 {
		done = append(done, fmt.Sprintf("kept %s: still mounted below it: %s", tmp, strings.Join(left, " ")))
	}
	return strings.Join(done, "; ")
}

// deleteContainers force-deletes the containers of "RUNTIME list --format
// json" whose bundle is inside tmp, as the column's user.
func deleteContainers(rt string, as runAs, env []string, tmp string) (int, error) {
	list := exec.Command(rt, "list", "--format", "json")
	list.Env, list.Dir = env, as.suite
	list.SysProcAttr = &syscall.SysProcAttr{Credential: as.cred}
	out, err := list.Output()
	if err != nil {
		return 0, fmt.Errorf("%s list: %w", rt, err)
	}
	var cs []struct {
		ID     string `json:"id"`
		Bundle string `json:"bundle"`
	}
	if err := json.Unmarshal(out, &cs); err != nil {
		return 0, fmt.Errorf("%s list: %w", rt, err)
	}
	n := 0
	for _, c := range cs {
		if !within(c.Bundle, tmp) {
			continue
		}
		del := exec.Command(rt, "delete", "--force", c.ID)
		del.Env, del.Dir = env, as.suite
		del.SysProcAttr = &syscall.SysProcAttr{Credential: as.cred}
		if out, err := del.CombinedOutput(); err != nil {
			return n, fmt.Errorf("%s delete --force %s: %w: %s", rt, c.ID, err, strings.TrimSpace(string(out)))
		}
		n++
	}
	return n, nil
}

// unmountBelow detaches every mount at or below dir (deepest first) and
// returns how many it detached and which are still there.
func unmountBelow(dir string) (int, []string, error) {
	points, err := mountsBelow(dir)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for _, p := range points {
		// EINVAL: already gone with its parent's detach.
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err == nil {
			n++
		}
	}
	left, err := mountsBelow(dir)
	return n, left, err
}

func mountsBelow(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	points, err := parseMountPoints(f)
	if err != nil {
		return nil, err
	}
	var below []string
	for _, p := range points {
		if within(p, dir) {
			below = append(below, p)
		}
	}
	sort.Slice(below, func(i, j int) bool { return len(below[i]) > len(below[j]) })
	return below, nil
}

// parseMountPoints reads the mount points (field 5) of a mountinfo file,
// with its octal escapes (\040 for a space) undone.
func parseMountPoints(r io.Reader) ([]string, error) {
	var points []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		points = append(points, unescapeOctal(fields[4]))
	}
	return points, sc.Err()
}

func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// within says whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
