package dockerapi

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"usandbox/lifecycle"
)

// TestExecSetSize: a size not yet applied is replaced by the next, and
// setting never blocks (the pty may not exist yet).
func TestExecSetSize(t *testing.T) {
	x := &execInstance{resize: make(chan lifecycle.WindowSize, 1)}
	x.setSize(lifecycle.WindowSize{Cols: 80, Rows: 24})
	x.setSize(lifecycle.WindowSize{Cols: 120, Rows: 40})
	if got := <-x.resize; got != (lifecycle.WindowSize{Cols: 120, Rows: 40}) {
		t.Fatalf("size %+v, want the latest", got)
	}
	select {
	case got := <-x.resize:
		t.Fatalf("a second size %+v was kept", got)
	default:
	}
}

func TestExecForget(t *testing.T) {
	now := time.Now()
	var tb execTable
	old := now.Add(-execForget - time.Minute)
	tb.m = map[string]*execInstance{
		"fresh":        {id: "fresh", created: now},
		"never-run":    {id: "never-run", created: old},
		"running":      {id: "running", created: old, started: true, running: true},
		"ended-long":   {id: "ended-long", created: old, started: true, ended: old},
		"ended-recent": {id: "ended-recent", created: old, started: true, ended: now},
	}
	tb.pruneLocked(now)
	for id, want := range map[string]bool{"fresh": true, "never-run": false, "running": true, "ended-long": false, "ended-recent": true} {
		if _, ok := tb.m[id]; ok != want {
			t.Errorf("%s kept %v, want %v", id, ok, want)
		}
	}
}

func TestExecResize(t *testing.T) {
	s := New(nil, "test")
	tty := &execInstance{id: "tty", created: time.Now(), cfg: container.ExecCreateRequest{Tty: true, Cmd: []string{"sh"}}, resize: make(chan lifecycle.WindowSize, 1)}
	plain := &execInstance{id: "plain", created: time.Now(), cfg: container.ExecCreateRequest{Cmd: []string{"sh"}}, resize: make(chan lifecycle.WindowSize, 1)}
	s.execs.add(tty)
	s.execs.add(plain)
	for _, tt := range []struct {
		path string
		code int
		msg  string
	}{
		{"/v1.41/exec/tty/resize?h=40&w=120", 200, ""},
		{"/v1.41/exec/nosuch/resize?h=1&w=1", 404, "No such exec instance: nosuch"},
		{"/v1.41/exec/tty/resize?h=x&w=1", 400, "invalid terminal height"},
		{"/v1.41/exec/tty/resize?h=1&w=70000", 400, "invalid terminal width"},
		{"/v1.41/exec/plain/resize?h=1&w=1", 400, "has no terminal"},
	} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("POST", tt.path, nil))
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.msg) {
			t.Errorf("POST %s: %d %s, want %d %q", tt.path, w.Code, w.Body.String(), tt.code, tt.msg)
		}
	}
	if got := <-tty.resize; got != (lifecycle.WindowSize{Cols: 120, Rows: 40}) {
		t.Errorf("resize queued %+v", got)
	}
}
