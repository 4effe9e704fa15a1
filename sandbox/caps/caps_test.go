package caps

import (
	"reflect"
	"strings"
	"testing"
)

// capsByNumber is linux/capability.h's list, CAP_CHOWN (0) to
// CAP_CHECKPOINT_RESTORE (40), and dockerDefault docker's default set,
// both written out: expectations must not come from the code under test.
var capsByNumber = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

var dockerDefault = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

func TestNames(t *testing.T) {
	for n, name := range capsByNumber {
		if got := Name(n); got != name {
			t.Errorf("Name(%d) = %q, want %q", n, got, name)
		}
		for _, spelling := range []string{name, "CAP_" + name, strings.ToLower("cap_" + name)} {
			if got, ok := Number(spelling); !ok || got != n {
				t.Errorf("Number(%q) = %d, %v, want %d", spelling, got, ok, n)
			}
		}
	}
	if got := Name(len(capsByNumber)); got != "41" {
		t.Errorf("Name(41) = %q, want the number", got)
	}
	if _, ok := Number("NOPE"); ok {
		t.Error("Number(NOPE) found a capability")
	}
	if got, want := All(), sorted(capsByNumber); !reflect.DeepEqual(got, want) {
		t.Errorf("All() = %v, want %v", got, want)
	}
}

func TestCompute(t *testing.T) {
	tests := []struct {
		add, drop []string
		want      []string
		err       string
	}{
		{nil, nil, dockerDefault, ""},
		{[]string{"NET_ADMIN"}, []string{"cap_chown", "NET_RAW"}, without(append(sorted(dockerDefault), "NET_ADMIN"), "CHOWN", "NET_RAW"), ""},
		{[]string{"CHOWN"}, []string{"ALL"}, []string{"CHOWN"}, ""},
		{[]string{"ALL"}, nil, capsByNumber, ""},
		{[]string{"ALL"}, []string{"ALL"}, capsByNumber, ""},
		{nil, []string{"ALL"}, []string{}, ""},
		{[]string{"NOPE"}, nil, nil, `unknown capability "NOPE"`},
		{nil, []string{"NOPE"}, nil, `unknown capability "NOPE"`},
	}
	for _, tt := range tests {
		got, err := Compute(tt.add, tt.drop)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v/%v: err %v", tt.add, tt.drop, err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(sorted(tt.want), ",") {
			t.Errorf("%v/%v: got %v %v, want %v", tt.add, tt.drop, got, err, sorted(tt.want))
		}
	}
}

func sorted(l []string) []string {
	out := append([]string(nil), l...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func without(l []string, drop ...string) []string {
	var out []string
	for _, c := range l {
		keep := true
		for _, d := range drop {
			if c == d {
				keep = false
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}
