// Package caps names Linux capabilities (moby/sys/capability's list) and
// computes a sandbox's set from docker's default list and
// --cap-add/--cap-drop.
package caps

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
)

// Default is docker's default capability set.
var Default = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// Name is the name of capability n, without "CAP_" ("CHOWN"), or its
// number if it has none.
func Name(n int) string {
	if n >= 0 {
		if s := capability.Cap(n).String(); s != "unknown" {
			return strings.ToUpper(s)
		}
	}
	return strconv.Itoa(n)
}

// Number is the number of a capability name ("NET_ADMIN" or
// "CAP_NET_ADMIN", in any case).
func Number(name string) (int, bool) {
	name = strings.TrimPrefix(strings.ToLower(name), "cap_")
	for _, c := range capability.ListKnown() {
		if c.String() == name {
			return int(c), true
		}
	}
	return 0, false
}

// All lists every known capability name, whether or not the running
// kernel has it.
func All() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		out = append(out, Name(int(c)))
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
			for _, s := range All() {
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
