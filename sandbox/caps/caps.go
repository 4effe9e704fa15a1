// Package caps names Linux capabilities and computes a sandbox's set from
// docker's default list and --cap-add/--cap-drop.
package caps

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

var names = map[int]string{
	unix.CAP_CHOWN: "CHOWN", unix.CAP_DAC_OVERRIDE: "DAC_OVERRIDE", unix.CAP_DAC_READ_SEARCH: "DAC_READ_SEARCH",
	unix.CAP_FOWNER: "FOWNER", unix.CAP_FSETID: "FSETID", unix.CAP_KILL: "KILL", unix.CAP_SETGID: "SETGID",
	unix.CAP_SETUID: "SETUID", unix.CAP_SETPCAP: "SETPCAP", unix.CAP_LINUX_IMMUTABLE: "LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE: "NET_BIND_SERVICE", unix.CAP_NET_BROADCAST: "NET_BROADCAST", unix.CAP_NET_ADMIN: "NET_ADMIN",
	unix.CAP_NET_RAW: "NET_RAW", unix.CAP_IPC_LOCK: "IPC_LOCK", unix.CAP_IPC_OWNER: "IPC_OWNER",
	unix.CAP_SYS_MODULE: "SYS_MODULE", unix.CAP_SYS_RAWIO: "SYS_RAWIO", unix.CAP_SYS_CHROOT: "SYS_CHROOT",
	unix.CAP_SYS_PTRACE: "SYS_PTRACE", unix.CAP_SYS_PACCT: "SYS_PACCT", unix.CAP_SYS_ADMIN: "SYS_ADMIN",
	unix.CAP_SYS_BOOT: "SYS_BOOT", unix.CAP_SYS_NICE: "SYS_NICE", unix.CAP_SYS_RESOURCE: "SYS_RESOURCE",
	unix.CAP_SYS_TIME: "SYS_TIME", unix.CAP_SYS_TTY_CONFIG: "SYS_TTY_CONFIG", unix.CAP_MKNOD: "MKNOD",
	unix.CAP_LEASE: "LEASE", unix.CAP_AUDIT_WRITE: "AUDIT_WRITE", unix.CAP_AUDIT_CONTROL: "AUDIT_CONTROL",
	unix.CAP_SETFCAP: "SETFCAP", unix.CAP_MAC_OVERRIDE: "MAC_OVERRIDE", unix.CAP_MAC_ADMIN: "MAC_ADMIN",
	unix.CAP_SYSLOG: "SYSLOG", unix.CAP_WAKE_ALARM: "WAKE_ALARM", unix.CAP_BLOCK_SUSPEND: "BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ: "AUDIT_READ", unix.CAP_PERFMON: "PERFMON", unix.CAP_BPF: "BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CHECKPOINT_RESTORE",
}

// Default is docker's default capability set.
var Default = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// Name is the name of capability n, without "CAP_".
func Name(n int) string {
	if s, ok := names[n]; ok {
		return s
	}
	return fmt.Sprintf("%d", n)
}

// Number is the number of a capability name ("NET_ADMIN" or "CAP_NET_ADMIN").
func Number(name string) (int, bool) {
	name = strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	for n, s := range names {
		if s == name {
			return n, true
		}
	}
	return 0, false
}

// All lists every known capability name.
func All() []string {
	var out []string
	for _, s := range names {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Compute applies --cap-add and --cap-drop (names, or ALL) to Default.
// Drops apply first, as in docker, so "--cap-drop ALL --cap-add CHOWN"
// leaves CHOWN.
func Compute(add, drop []string) ([]string, error) {
	set := map[string]bool{}
	for _, c := range Default {
		set[c] = true
	}
	norm := func(list []string) ([]string, error) {
		var out []string
		for _, c := range list {
			c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
			if c == "ALL" {
				out = append(out, c)
				continue
			}
			if _, ok := Number(c); !ok {
				return nil, fmt.Errorf("unknown capability %q (see capabilities(7))", c)
			}
			out = append(out, c)
		}
		return out, nil
	}
	d, err := norm(drop)
	if err != nil {
		return nil, err
	}
	a, err := norm(add)
	if err != nil {
		return nil, err
	}
	for _, c := range d {
		if c == "ALL" {
			set = map[string]bool{}
		} else {
			delete(set, c)
		}
	}
	for _, c := range a {
		if c == "ALL" {
			for _, s := range names {
				set[s] = true
			}
		} else {
			set[c] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}
