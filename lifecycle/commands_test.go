package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"usandbox/network"
	"usandbox/sandbox"
)

// createdBefore is a sandbox that an earlier create made: that process
// has ended, and with it its hold of the sandbox's lock.
func createdBefore(t *testing.T, e *Engine, name string) *Sandbox {
	t.Helper()
	sb := create(t, e, name)
	if err := sb.HeldLock().Close(); err != nil {
		t.Fatal(err)
	}
	sb.HoldLock(nil)
	return sb
}

// TestStartAttached: start -a runs a created sandbox in the foreground
// and returns its status; a running sandbox is attached to.
func TestStartAttached(t *testing.T) {
	ctx := context.Background()
	e, h := testEngine(t)
	createdBefore(t, e, "fg")
	if code, err := e.StartAttached(ctx, "fg", Streams{}); err != nil || code != 3 {
		t.Fatalf("start -a: %d %v", code, err)
	}
	if st := state(t, e, "fg"); st.Status != sandbox.StatusExited || st.ExitCode != 3 {
		t.Fatalf("after start -a: %+v", st)
	}
	// A running sandbox is attached to, as podman does: its output until
	// it ends, and status 0 whatever its command's.
	up := running(t, e, "up")
	if err := os.WriteFile(filepath.Join(up.Dir, sandbox.LogFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.exit(up, 5)
	}()
	if code, err := e.StartAttached(ctx, "up", Streams{}); err != nil || code != 0 {
		t.Fatalf("start -a of a running sandbox: %d %v, want 0 (attached)", code, err)
	}
	if _, err := e.StartAttached(ctx, "nosuch", Streams{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("start -a of nothing: %v, want ErrNotFound", err)
	}
}

// TestRestart: SIGTERM, the kill after the grace period, then a new
// start; a stopped sandbox is only started.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	e, h := testEngine(t)
	h.ignoreTERM = true
	sb := running(t, e, "again")
	if _, err := e.Restart(ctx, "again", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := []string{"start " + sb.ID, "signal " + sb.ID + " 15", "killall " + sb.ID, "signal " + sb.ID + " 9", "start " + sb.ID}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
	if st := state(t, e, "again"); !st.Running {
		t.Fatalf("after restart: %+v", st)
	}
	idle := createdBefore(t, e, "idle")
	if _, err := e.Restart(ctx, "idle", time.Second); err != nil {
		t.Fatal(err)
	}
	if got := h.Calls(); got[len(got)-1] != "start "+idle.ID {
		t.Errorf("restart of a created sandbox: %q", got)
	}
}

// TestRemoveGrace: rm -f -t N gives SIGTERM first.
func TestRemoveGrace(t *testing.T) {
	e, h := testEngine(t)
	sb := running(t, e, "soft")
	if err := e.Remove(context.Background(), "soft", RemoveOptions{Force: true, Grace: time.Second}); err != nil {
		t.Fatal(err)
	}
	want := []string{"start " + sb.ID, "signal " + sb.ID + " 15", "remove " + sb.ID}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
}

func TestFilters(t *testing.T) {
	e, h := testEngine(t)
	created := create(t, e, "c1")
	exited := running(t, e, "c2")
	h.exit(exited, 3)
	up := running(t, e, "r1")
	names := func(filters ...string) string {
		t.Helper()
		f, err := ParseFilters(filters)
		if err != nil {
			t.Fatal(err)
		}
		list, err := e.List(context.Background(), ListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, sb := range list {
			out = append(out, sb.Name)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		filters []string
		want    string
	}{
		{nil, "c1 c2 r1"},
		{[]string{"status=exited"}, "c2"},
		{[]string{"status=stopped"}, "c2"},
		{[]string{"status=created"}, "c1"},
		{[]string{"status=running"}, "r1"},
		{[]string{"status=created", "status=running"}, "c1 r1"},
		{[]string{"name=^c"}, "c1 c2"},
		{[]string{"name=c", "status=exited"}, "c2"},
		{[]string{"id=" + created.ID[:6]}, "c1"},
		{[]string{"id=" + created.ID[:6], "id=" + up.ID[:6]}, "c1 r1"},
		{[]string{"exited=3"}, "c2"},
		{[]string{"exited=0"}, ""},
		{[]string{"ancestor=test"}, "c1 c2 r1"},
		{[]string{"ancestor=localhost/test:latest"}, "c1 c2 r1"},
		{[]string{"ancestor=imgr1"}, "r1"},
		{[]string{"ancestor=other"}, ""},
	} {
		if got := names(c.filters...); got != c.want {
			t.Errorf("filters %q: %q, want %q", c.filters, got, c.want)
		}
	}
	f, err := ParseFilters([]string{"status=exited"})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := e.List(context.Background(), ListOptions{Filters: f}); err != nil || len(list) != 1 || list[0].Name != "c2" {
		t.Errorf("a status filter without All: %v %v, want c2", list, err)
	}
	for _, bad := range []string{"status=bogus", "exited=x", "name=(", "nokey", "bogus=1"} {
		if _, err := ParseFilters([]string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("filter %q: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseLog(t *testing.T) {
	for _, c := range []struct {
		driver string
		opts   []string
		want   string
		max    int64
		err    bool
	}{
		{"", nil, "k8s-file", 0, false},
		{"k8s-file", []string{"max-size=10k"}, "k8s-file", 10 << 10, false},
		{"none", nil, "none", 0, false},
		{"none", []string{"max-size=1m"}, "", 0, true},
		{"passthrough", nil, "", 0, true},
		{"journald", nil, "", 0, true},
		{"k8s-file", []string{"max-size=0"}, "", 0, true},
		{"k8s-file", []string{"max-size=huge"}, "", 0, true},
		{"k8s-file", []string{"path=/tmp/x"}, "", 0, true},
	} {
		d, max, err := ParseLog(c.driver, c.opts)
		if (err != nil) != c.err || d != c.want || max != c.max {
			t.Errorf("ParseLog(%q, %q) = %q, %d, %v", c.driver, c.opts, d, max, err)
		}
		if err != nil && Kind(err) != ErrInvalid {
			t.Errorf("ParseLog(%q, %q): kind %v, want ErrInvalid", c.driver, c.opts, Kind(err))
		}
	}
}

func TestNetworkFilter(t *testing.T) {
	f, err := ParseFilters([]string{"network=web"})
	if err != nil {
		t.Fatal(err)
	}
	on := &Sandbox{}
	on.Network = network.Options{Mode: network.Bridge, Networks: []network.Attach{{Name: "db"}, {Name: "web"}}}
	off := &Sandbox{}
	off.Network = network.Options{Mode: network.Bridge, Networks: []network.Attach{{Name: "db"}}}
	none := &Sandbox{}
	none.Network = network.Options{Mode: network.None}
	if !f.Match(on) || f.Match(off) || f.Match(none) {
		t.Errorf("network=web: on %v, off %v, none %v", f.Match(on), f.Match(off), f.Match(none))
	}
	if g, _ := ParseFilters([]string{"network=" + network.None}); !g.Match(none) || g.Match(on) {
		t.Error("network=none does not pick the sandbox without a network")
	}
}
