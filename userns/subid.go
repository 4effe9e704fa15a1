// Package userns decides how an unprivileged user's IDs map into a user
// namespace and writes those maps for a child process.
//
// The full map gives the user's own uid as root inside plus every range
// listed for the user in /etc/subuid and /etc/subgid, written by the setuid
// helpers newuidmap and newgidmap. A user with no range gets a single-ID map
// (root inside is the user, nothing else is mapped), which the kernel lets
// any user write, at the price of setgroups being denied inside.
package userns

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Range is one line of /etc/subuid or /etc/subgid: Count IDs from Start.
type Range struct {
	Start, Count uint32
}

// IDMap is one line of a uid_map or gid_map: Size IDs from ContainerID
// inside map to Size IDs from HostID outside.
type IDMap struct {
	ContainerID, HostID, Size uint32
}

// ParseSubIDs returns the ranges that r (in /etc/subuid format,
// "owner:start:count" per line) grants to the user named name or with the
// numeric ID id, in file order. Comments, blank lines and malformed lines
// are skipped, as newuidmap does.
func ParseSubIDs(r io.Reader, name string, id uint32) ([]Range, error) {
	var out []Range
	idStr := strconv.FormatUint(uint64(id), 10)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != idStr) || f[0] == "" {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count-1 > 0xfffffffe {
			continue
		}
		out = append(out, Range{Start: uint32(start), Count: uint32(count)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("userns: reading sub-ID file: %w", err)
	}
	return out, nil
}

// FullMap maps ID 0 inside to own and then the ranges, one after the
// other, from ID 1 on. It is the map podman and docker's rootless mode use.
func FullMap(own uint32, ranges []Range) []IDMap {
	m := []IDMap{{ContainerID: 0, HostID: own, Size: 1}}
	next := uint32(1)
	for _, r := range ranges {
		m = append(m, IDMap{ContainerID: next, HostID: r.Start, Size: r.Count})
		next += r.Count
	}
	return m
}

// Size is the number of IDs a map covers.
func Size(m []IDMap) uint64 {
	var n uint64
	for _, e := range m {
		n += uint64(e.Size)
	}
	return n
}

// ParseIDMap parses the text of /proc/PID/uid_map or gid_map.
func ParseIDMap(r io.Reader) ([]IDMap, error) {
	var out []IDMap
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("userns: malformed id map line %q", sc.Text())
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("userns: malformed id map line %q", sc.Text())
			}
			v[i] = uint32(n)
		}
		out = append(out, IDMap{ContainerID: v[0], HostID: v[1], Size: v[2]})
	}
	return out, sc.Err()
}

// ToHost returns the host ID of the ID id inside, and whether it is mapped.
func ToHost(m []IDMap, id uint32) (uint32, bool) {
	for _, e := range m {
		if id >= e.ContainerID && id-e.ContainerID < e.Size {
			return e.HostID + (id - e.ContainerID), true
		}
	}
	return 0, false
}

// helperArgs are the arguments newuidmap/newgidmap take after the pid.
func helperArgs(m []IDMap) []string {
	var a []string
	for _, e := range m {
		a = append(a, strconv.FormatUint(uint64(e.ContainerID), 10),
			strconv.FormatUint(uint64(e.HostID), 10), strconv.FormatUint(uint64(e.Size), 10))
	}
	return a
}
