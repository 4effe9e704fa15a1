package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctr.log")
	l, err := NewLogWriter(path, 200)
	if err != nil {
		t.Fatal(err)
	}
	l.Copy("stdout", strings.NewReader("one\ntwo\nno newline"))
	l.Copy("stderr", strings.NewReader("err\n"))
	b, _ := os.ReadFile(path)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		e, ok := ParseLogLine(line)
		if !ok {
			t.Fatalf("unparsable %q", line)
		}
		got = append(got, e.Stream+":"+map[bool]string{true: "P", false: "F"}[e.Partial]+":"+e.Text)
	}
	want := "stdout:F:one stdout:F:two stdout:P:no newline stderr:F:err"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v", got)
	}
	// Past the cap the log rotates.
	l.Copy("stdout", strings.NewReader(strings.Repeat("x", 50)+"\n"))
	l.Close()
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no rotation: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Size() > 200 {
		t.Fatalf("log over its cap: %d", fi.Size())
	}
}

func TestLogTee(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctr.log")
	l, err := NewLogWriter(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	w := l.Tee("stdout", &seen)
	for _, p := range []string{"a\nb", "c\n", "\n", "d"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if seen.String() != "a\nbc\n\nd" {
		t.Fatalf("passed on %q", seen.String())
	}
	b, _ := os.ReadFile(path)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		e, _ := ParseLogLine(line)
		got = append(got, map[bool]string{true: "P", false: "F"}[e.Partial]+":"+e.Text)
	}
	if want := "F:a P:b F:c F: P:d"; strings.Join(got, " ") != want {
		t.Fatalf("logged %v, want %s", got, want)
	}
}

func TestRecordHealth(t *testing.T) {
	dir := t.TempDir()
	cfg := &HealthConfig{Test: []string{"CMD", "true"}, Retries: 2, StartPeriod: time.Minute}
	started := time.Now()
	res := func(code int, at time.Time) HealthResult { return HealthResult{Start: at, End: at, ExitCode: code} }
	step := func(code int, at time.Time, status string, streak int) {
		t.Helper()
		h, err := RecordHealth(dir, cfg, started, res(code, at))
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != status || h.FailingStreak != streak {
			t.Fatalf("after exit %d: %s/%d, want %s/%d", code, h.Status, h.FailingStreak, status, streak)
		}
	}
	if h := readHealth(dir); h.Status != HealthStarting {
		t.Fatalf("before any check: %s", h.Status)
	}
	step(1, started, HealthStarting, 0)                     // in the start period: not counted
	step(1, started.Add(2*time.Minute), HealthStarting, 1)  // counted
	step(1, started.Add(3*time.Minute), HealthUnhealthy, 2) // retries reached
	step(0, started.Add(4*time.Minute), HealthHealthy, 0)
	for i := 0; i < 9; i++ {
		step(0, started.Add(5*time.Minute), HealthHealthy, 0)
	}
	if n := len(readHealth(dir).Log); n != healthLogMax {
		t.Fatalf("log keeps %d results, want %d", n, healthLogMax)
	}
}
