package holder

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Adoption: the holder's death takes every network's namespace with it
// (it held their only references), and the members are left with their
// loopback. The next client that finds no holder but live members in
// members.json starts the new holder in the same user namespace (the
// parent of a live member's, NS_GET_PARENT), and that holder plugs the
// live members in again, at their old addresses, before it answers
// anybody: their /etc/resolv.conf and /etc/hosts are right again.

// startTime is pid's start time (clock ticks since boot, /proc/PID/stat
// field 22): with the pid, it names one process for good.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command (field 2) is in parentheses and may hold anything.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether the process pid that started at start runs.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := startTime(pid)
	if err != nil || st != start {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b[strings.LastIndexByte(string(b), ')')+1:]), " Z ")
}

// readMembers reads the members.json a holder left in dir.
func readMembers(dir string) ([]NetworkStatus, error) {
	b, err := os.ReadFile(filepath.Join(dir, MembersName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var nets []NetworkStatus
	if err := json.Unmarshal(b, &nets); err != nil {
		return nil, fmt.Errorf("%s: %w", MembersName, err)
	}
	return nets, nil
}

// liveMember is one attached member of the file whose init still runs.
func liveMembers(nets []NetworkStatus) []MemberStatus {
	seen := map[string]bool{}
	var out []MemberStatus
	for _, n := range nets {
		for _, m := range n.Members {
			if m.Attached && !seen[m.ID] && alive(m.InitPid, m.InitStart) {
				seen[m.ID] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// parentUserNS opens the user namespace in which a live member's was
// made: the networks' one.
func parentUserNS(m MemberStatus) (*os.File, error) {
	own, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", m.KeeperPid))
	if err != nil {
		return nil, err
	}
	defer own.Close()
	// Both still the member's after the open (a reused pid is another
	// process: another start time).
	if !alive(m.InitPid, m.InitStart) || !alive(m.KeeperPid, m.KeeperStart) {
		return nil, fmt.Errorf("sandbox %s went meanwhile", short(m.ID))
	}
	fd, err := unix.IoctlRetInt(int(own.Fd()), unix.NS_GET_PARENT)
	if err != nil {
		return nil, fmt.Errorf("the parent of sandbox %s's user namespace: %w", short(m.ID), err)
	}
	return os.NewFile(uintptr(fd), "netuserns"), nil
}

// adopt plugs in again the live members that a killed holder left (the
// holder's first act, before it answers anybody). A member that cannot
// be adopted is told on stderr (the log) and left alone.
func (h *holder) adopt() {
	nets, err := readMembers(h.dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "usandbox netholder: adopting:", err)
		return
	}
	type join struct {
		ns NetworkStatus
		ms MemberStatus
	}
	byID := map[string][]join{}
	for _, n := range nets {
		for _, m := range n.Members {
			byID[m.ID] = append(byID[m.ID], join{n, m})
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, joins := range byID {
		first := joins[0].ms
		if !first.Attached || !alive(first.InitPid, first.InitStart) {
			continue
		}
		if err := h.adoptOne(id, joins[0].ms, func(yield func(NetworkStatus, MemberStatus) error) error {
			sort.Slice(joins, func(i, j int) bool { return joins[i].ms.Address.IfName < joins[j].ms.Address.IfName })
			for _, j := range joins {
				if err := yield(j.ns, j.ms); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			fmt.Fprintf(os.Stderr, "usandbox netholder: adopting sandbox %s: %v\n", short(id), err)
		}
	}
	h.saveLocked()
}

func (h *holder) adoptOne(id string, first MemberStatus, each func(func(NetworkStatus, MemberStatus) error) error) error {
	fd, err := unix.PidfdOpen(first.InitPid, 0)
	if err != nil {
		return err
	}
	life := os.NewFile(uintptr(fd), "init")
	netns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", first.KeeperPid))
	if err != nil || !alive(first.InitPid, first.InitStart) || !alive(first.KeeperPid, first.KeeperStart) {
		life.Close()
		if netns != nil {
			netns.Close()
		}
		return fmt.Errorf("its processes went meanwhile (%v)", err)
	}
	m := &member{id: id, name: first.Name, life: life, netns: netns, attached: true, gone: make(chan struct{}),
		keeperPid: first.KeeperPid, keeperStart: first.KeeperStart, initPid: first.InitPid, initStart: first.InitStart}
	err = each(func(n NetworkStatus, ms MemberStatus) error {
		ns, err := h.network(n.Config)
		if err != nil {
			return err
		}
		if other, taken := ns.used[ms.Address.IP]; taken && other != id {
			return fmt.Errorf("address %s on network %s is taken", ms.Address.IP, n.Name)
		}
		ns.used[ms.Address.IP] = id
		m.joins = append(m.joins, memberNet{net: n.Name, aliases: ms.Aliases, addr: ms.Address})
		return h.plug(m, &m.joins[len(m.joins)-1])
	})
	h.members[id] = m
	if err != nil {
		h.drop(m)
		return err
	}
	h.watch(m)
	return nil
}
