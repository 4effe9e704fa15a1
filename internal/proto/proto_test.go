package proto_test

import (
	"strings"
	"testing"

	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/sigproxy"
)

// Every signal the parent relays to a sandbox, its init passes on.
func TestInitSignalsCoverRelayed(t *testing.T) {
	init := map[string]bool{}
	for _, s := range proto.InitSignals() {
		init[s.String()] = true
	}
	for _, s := range sigproxy.Default {
		if !init[s.String()] {
			t.Errorf("the parent relays %v, the init does not pass it on", s)
		}
	}
}

func TestStages(t *testing.T) {
	for _, r := range role.All {
		st, ok := proto.StageOf(r)
		switch r {
		case role.Monitor, role.LeanMonitor, role.Finish, role.Probe:
			if ok {
				t.Errorf("role %s has a C stage in nsexec: it is not started by nsexec", r)
			}
		case role.Sandbox:
			if !ok || st.Mode != proto.ModeSandbox {
				t.Errorf("role %s: %+v %v", r, st, ok)
			}
		default:
			if !ok || st.Mode == proto.ModeSandbox {
				t.Errorf("role %s: %+v %v", r, st, ok)
			}
		}
	}
	if _, ok := proto.StageOf(role.CLI); ok {
		t.Error("the command line has a C stage")
	}
}

func TestStepNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range proto.Steps() {
		if seen[s.String()] || strings.HasPrefix(s.String(), "step ") {
			t.Errorf("step %s: %q", string(s), s.String())
		}
		seen[s.String()] = true
	}
}

func TestCheckStrings(t *testing.T) {
	ok := proto.Monitor{Kind: proto.KindMonitor, LogName: "ctr.log", RotatedName: "ctr.log.1"}
	if err := proto.CheckStrings(ok); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "a\"b", `a\b`, "a<b", "a\nb", "é", strings.Repeat("x", 256)} {
		m := ok
		m.RotatedName = name
		if err := proto.CheckStrings(m); err == nil {
			t.Errorf("name %q passes", name)
		}
	}
	if err := proto.CheckStrings(proto.Monitor{Kind: proto.KindMonitor, LogName: strings.Repeat("x", 255), RotatedName: "y"}); err != nil {
		t.Errorf("255 bytes: %v", err)
	}
}
