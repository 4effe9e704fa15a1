package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// TAP is what one program's standard output says, read as TAP 13.
type TAP struct {
	Plan    int  // the N of "1..N"; meaningful when HasPlan
	HasPlan bool // a plan line was seen
	Ran     int  // test lines ("ok"/"not ok"), whatever their directive
	OK      int  // "ok" without a directive
	Skip    int  // "ok # SKIP" (and "not ok # SKIP")
	Todo    int  // "not ok # TODO": a known failure, which TAP does not count as one
	NotOK   int  // "not ok" without TODO or SKIP: real failures
	Bail    bool // "Bail out!"
	Failed  []string
	// Error is the first "error" of a YAML diagnostic block: the suite's
	// hook programs run no test and print only this when they find a
	// fault, so it is what tells their "1..0" apart.
	Error string
}

var (
	planRE = regexp.MustCompile(`^1\.\.(\d+)\s*(#.*)?$`)
	testRE = regexp.MustCompile(`^(not ok|ok)\b\s*(\d+)?\s*-?\s*(.*)$`)
	// A directive is "# SKIP" or "# TODO" (any case, more letters may
	// follow, as in "# skipped"); a "#" elsewhere is part of the
	// description.
	directiveRE = regexp.MustCompile(`(?i)#\s*(SKIP|TODO)\S*\s*(.*)$`)
	// tap-go writes its YAML blocks as indented JSON.
	yamlErrorRE = regexp.MustCompile(`^\s+"error": ("(?:[^"\\]|\\.)*")`)
)

// ParseTAP reads TAP 13 from r. Only lines that start in the first column
// count: the YAML diagnostics the suite prints after a test line are
// indented (and may hold a container's whole inner TAP as a JSON string),
// so they are passed over, as are "#" comments and anything else.
func ParseTAP(r io.Reader) (TAP, error) {
	var t TAP
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	inYAML := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case strings.TrimSpace(line) == "---" && line != "---":
			inYAML = true
			continue
		case inYAML && strings.TrimSpace(line) == "...":
			inYAML = false
			continue
		case inYAML:
			if m := yamlErrorRE.FindStringSubmatch(line); m != nil && t.Error == "" {
				if e, err := strconv.Unquote(m[1]); err == nil {
					t.Error = e
				}
			}
			continue
		}
		if m := planRE.FindStringSubmatch(line); m != nil {
			if t.HasPlan {
				continue // a second plan changes nothing; the first one counts
			}
			n, err := strconv.Atoi(m[1])
			if err != nil {
				return t, fmt.Errorf("plan %q: %w", line, err)
			}
			t.Plan, t.HasPlan = n, true
			continue
		}
		if strings.HasPrefix(line, "Bail out!") {
			t.Bail = true
			continue
		}
		m := testRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		t.Ran++
		desc, directive := m[3], ""
		if d := directiveRE.FindStringSubmatchIndex(desc); d != nil {
			directive = strings.ToUpper(desc[d[2]:d[3]])
			desc = strings.TrimSpace(desc[:d[0]] + " " + desc[d[4]:d[5]])
		}
		switch {
		case directive == "SKIP":
			t.Skip++
		case m[1] == "ok":
			t.OK++
		case directive == "TODO":
			t.Todo++
		default:
			t.NotOK++
			t.Failed = append(t.Failed, strings.TrimSpace(m[2]+" "+desc))
		}
	}
	return t, sc.Err()
}

// Status is the verdict on one program.
type Status string

const (
	Pass    Status = "PASS"
	Fail    Status = "FAIL"    // shown as FAIL(passed/planned)
	Crash   Status = "CRASH"   // non-zero exit without a plan, a signal, or it did not start
	Empty   Status = "EMPTY"   // no test at all: no plan and exit 0, or "1..0"
	Timeout Status = "TIMEOUT" // killed by the harness
	Skipped Status = "SKIP"    // a plan whose every test is SKIP: nothing was tested
)

// Exit is how a program ended.
type Exit struct {
	Code     int    // exit status; meaningful when Signal is ""
	Signal   string // the signal that killed it, if one did
	TimedOut bool   // the harness killed it at its timeout
	StartErr error  // it could not be started
}

// Verdict is a program's result: its status, the cell shown in the table,
// and one line saying why when it did not pass.
type Verdict struct {
	Status Status
	Cell   string
	Why    string
}

// Judge decides one program's verdict from its TAP and how it ended.
// It passes only when it planned more than zero tests, ran exactly those,
// none failed (a TODO failure does not count, as TAP says), nothing bailed
// out, not every test was a SKIP, and it exited 0: the suite's *_fail
// programs report the runtime's wrong acceptance by exiting 1 after an
// all-ok inner TAP, so the exit status is part of the answer.
func Judge(t TAP, e Exit) Verdict {
	passed := t.OK + t.Skip + t.Todo
	switch {
	case e.StartErr != nil:
		return Verdict{Crash, string(Crash), "did not start: " + e.StartErr.Error()}
	case e.TimedOut:
		return Verdict{Timeout, string(Timeout), fmt.Sprintf("killed at the timeout after %d of %s tests", t.Ran, planText(t))}
	case e.Signal != "":
		return Verdict{Crash, string(Crash), fmt.Sprintf("killed by %s after %d of %s tests", e.Signal, t.Ran, planText(t))}
	case !t.HasPlan && e.Code != 0:
		return Verdict{Crash, string(Crash), fmt.Sprintf("exit status %d without a plan (%d tests printed)", e.Code, t.Ran)}
	case !t.HasPlan:
		return Verdict{Empty, string(Empty), "no plan and exit status 0: nothing was tested" + reported(t)}
	case t.Plan == 0:
		return Verdict{Empty, string(Empty), fmt.Sprintf("plan 1..0, exit status %d", e.Code) + reported(t)}
	}
	cell := fmt.Sprintf("FAIL(%d/%d)", passed, t.Plan)
	var why []string
	if t.NotOK > 0 {
		why = append(why, fmt.Sprintf("%d not ok: %s", t.NotOK, first(t.Failed)))
	}
	if t.Ran != t.Plan {
		why = append(why, fmt.Sprintf("ran %d of %d planned", t.Ran, t.Plan))
	}
	if t.Bail {
		why = append(why, "bailed out")
	}
	if e.Code != 0 {
		why = append(why, fmt.Sprintf("exit status %d", e.Code))
	}
	if len(why) > 0 {
		return Verdict{Fail, cell, strings.Join(why, "; ")}
	}
	if t.Skip == t.Plan {
		return Verdict{Skipped, string(Skipped), "every test was skipped"}
	}
	return Verdict{Pass, string(Pass), ""}
}

// reported is the error a test-less program reported, if any.
func reported(t TAP) string {
	if t.Error == "" {
		return ", no error reported"
	}
	msg, _, _ := strings.Cut(t.Error, "\n")
	return ", error: " + msg
}

func planText(t TAP) string {
	if !t.HasPlan {
		return "an unknown number of"
	}
	return strconv.Itoa(t.Plan)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > 1 {
		return s[0] + fmt.Sprintf(" (+%d more)", len(s)-1)
	}
	return s[0]
}
