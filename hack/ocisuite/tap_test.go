package main

import (
	"errors"
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	yaml := "  ---\n  {\n    \"stdout\": \"TAP version 13\\nnot ok 1 - inner\\n1..1\\n\"\n  }\n  ...\n"
	for _, tc := range []struct {
		name string
		tap  string
		exit Exit
		want string // the cell
	}{
		{"all ok, plan first", "TAP version 13\n1..2\nok 1 - a\nok 2 - b\n", Exit{}, "PASS"},
		{"all ok, plan last", "TAP version 13\nok 1 - a\n" + yaml + "ok 2 - b\n1..2\n", Exit{}, "PASS"},
		{"skips count as run", "1..3\nok 1 - a\nok 2 # SKIP not set\nok 3 # skip\n", Exit{}, "PASS"},
		{"todo failure is not a failure", "1..2\nok 1\nnot ok 2 # TODO later\n", Exit{}, "PASS"},
		{"every test skipped", "1..1\nok 1 # SKIP linux-specific\n", Exit{}, "SKIP"},
		{"one not ok", "1..3\nok 1\nnot ok 2 - b\nok 3\n", Exit{}, "FAIL(2/3)"},
		{"fewer than planned", "1..4\nok 1\nok 2\n", Exit{}, "FAIL(2/4)"},
		{"more than planned", "1..1\nok 1\nok 2\n", Exit{}, "FAIL(2/1)"},
		{"all ok but exit 1", "1..2\nok 1\nok 2\n", Exit{Code: 1}, "FAIL(2/2)"},
		{"bail out", "1..2\nok 1\nBail out! no runtime\n", Exit{}, "FAIL(1/2)"},
		{"plan 1..0", "TAP version 13\n1..0\n", Exit{}, "EMPTY"},
		{"plan 1..0 exit 1", "TAP version 13\n1..0\n", Exit{Code: 1}, "EMPTY"},
		{"no plan exit 0", "TAP version 13\n", Exit{}, "EMPTY"},
		{"nothing at all", "", Exit{}, "EMPTY"},
		{"no plan exit 1", "TAP version 13\nok 1\n", Exit{Code: 1}, "CRASH"},
		{"signal", "1..2\nok 1\nok 2\n", Exit{Signal: "segmentation fault"}, "CRASH"},
		{"did not start", "", Exit{StartErr: errors.New("exec format error")}, "CRASH"},
		{"timeout", "1..2\nok 1\n", Exit{TimedOut: true, Signal: "killed"}, "TIMEOUT"},
		{"indented lines are not tests", "1..1\nok 1\n  not ok 2\n    1..5\n", Exit{}, "PASS"},
		{"okay is not ok", "1..1\nok 1\nokay then\n", Exit{}, "PASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tap, err := ParseTAP(strings.NewReader(tc.tap))
			if err != nil {
				t.Fatal(err)
			}
			v := Judge(tap, tc.exit)
			if v.Cell != tc.want {
				t.Errorf("cell %q (%+v, why %q), want %q", v.Cell, tap, v.Why, tc.want)
			}
			if (v.Status == Pass) != (v.Why == "") {
				t.Errorf("status %s with why %q", v.Status, v.Why)
			}
		})
	}
}

func TestJudgeHookProgram(t *testing.T) {
	// The suite's hook programs run no test: "1..0" either way, with the
	// fault, when there is one, only in a YAML block.
	for _, tc := range []struct{ tap, why string }{
		{"TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called in the listed order\\nRefer to: x\"\n  }\n  ...\n1..0\n",
			"plan 1..0, exit status 0, error: Hooks MUST be called in the listed order"},
		{"TAP version 13\n1..0\n", "plan 1..0, exit status 0, no error reported"},
		{"TAP version 13\n  ---\n  {\n    \"stdout\": \"x \\\"error\\\": y\"\n  }\n  ...\n1..0\n",
			"plan 1..0, exit status 0, no error reported"},
	} {
		tap, err := ParseTAP(strings.NewReader(tc.tap))
		if err != nil {
			t.Fatal(err)
		}
		if v := Judge(tap, Exit{}); v.Cell != "EMPTY" || v.Why != tc.why {
			t.Errorf("%q: got %s %q, want EMPTY %q", tc.tap, v.Cell, v.Why, tc.why)
		}
	}
}

func TestParseTAPCounts(t *testing.T) {
	in := "TAP version 13\nok 1 - a\nnot ok 2 - b # with a hash\nok 3 # SKIP x\nnot ok 4 # TODO y\n# comment\n1..4\n1..9\n"
	got, err := ParseTAP(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := TAP{Plan: 4, HasPlan: true, Ran: 4, OK: 1, Skip: 1, Todo: 1, NotOK: 1}
	if got.Plan != want.Plan || got.HasPlan != want.HasPlan || got.Ran != want.Ran || got.OK != want.OK ||
		got.Skip != want.Skip || got.Todo != want.Todo || got.NotOK != want.NotOK {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if len(got.Failed) != 1 || got.Failed[0] != "2 b # with a hash" {
		t.Errorf("failed %q", got.Failed)
	}
}
