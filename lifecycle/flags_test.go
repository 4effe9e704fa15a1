package lifecycle

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"usandbox/network"
	"usandbox/sandbox"
	"usandbox/storage/index"
)

func TestParsePullPolicy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want PullPolicy
		err  bool
	}{
		{"", PullMissing, false}, {"missing", PullMissing, false}, {"always", PullAlways, false},
		{"never", PullNever, false}, {"Never", PullNever, false}, {"newer", PullNewer, false},
		{"sometimes", "", true}, {"true", "", true},
	} {
		got, err := ParsePullPolicy(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParsePullPolicy(%q) = %q, %v; want %q, error %v", c.in, got, err, c.want, c.err)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unsupported pull policy")) {
			t.Errorf("ParsePullPolicy(%q): %v, want ErrInvalid in podman's words", c.in, err)
		}
	}
}

func TestParseAddHost(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"foo:1.2.3.4", "foo:1.2.3.4", ""},
		{"foo.bar:10.0.0.1", "foo.bar:10.0.0.1", ""},
		{"v6:::1", "v6:::1", ""},
		{"v6:[2001:db8::1]", "v6:2001:db8::1", ""},
		{"foo", "", "bad format for add-host"},
		{":1.2.3.4", "", "bad format for add-host"},
		{"a b:1.2.3.4", "", "bad format for add-host"},
		{"foo:notanip", "", "invalid IP address in add-host"},
		{"foo:", "", "invalid IP address in add-host"},
		{"foo:host-gateway", "", "invalid IP address in add-host"}, // podman 4.3 refuses it too
	} {
		got, err := ParseAddHost(c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseAddHost(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseAddHost(%q) = %q, %v; want an ErrInvalid saying %q", c.in, got, err, c.err)
		}
	}
}

func TestParseExpose(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"80", []string{"80/tcp"}},
		{"53/udp", []string{"53/udp"}},
		{"8080/TCP", []string{"8080/tcp"}},
		{"9000-9002/udp", []string{"9000/udp", "9001/udp", "9002/udp"}},
		{"abc", nil}, {"0", nil}, {"70000", nil}, {"80/sctpx", nil}, {"90-80", nil}, {"80-", nil}, {"", nil},
	} {
		got, err := ParseExpose(c.in)
		if c.want == nil {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseExpose(%q) = %q, %v; want ErrInvalid", c.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseExpose(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParseLabels(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "labels")
	if err := os.WriteFile(file, []byte("a=1\n# a comment\n\n  b=2 x\nc\nx=from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		labels, files []string
		want          map[string]string
		err           string
	}{
		{"none", nil, nil, nil, ""},
		{"flags", []string{"x=y", "z", "e="}, nil, map[string]string{"x": "y", "z": "", "e": ""}, ""},
		{"a value with =", []string{"k=a=b"}, nil, map[string]string{"k": "a=b"}, ""},
		{"file, flags over it", []string{"x=y"}, []string{file}, map[string]string{"a": "1", "b": "2 x", "c": "", "x": "y"}, ""},
		{"missing file", nil, []string{filepath.Join(dir, "nosuch")}, nil, "unable to process labels"},
		{"no key", []string{"=x"}, nil, nil, "invalid label format"},
		{"space in key", []string{"a b=1"}, nil, nil, "invalid label format"},
	} {
		got, err := ParseLabels(c.labels, c.files)
		if c.err != "" {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, %v; want ErrInvalid saying %q", c.name, got, err, c.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestMergeLabels(t *testing.T) {
	got := MergeLabels(map[string]string{"a": "image", "b": "image"}, map[string]string{"b": "user", "c": "user"})
	if want := map[string]string{"a": "image", "b": "user", "c": "user"}; !maps.Equal(got, want) {
		t.Errorf("MergeLabels = %v, want %v", got, want)
	}
	if got := MergeLabels(nil, nil); got != nil {
		t.Errorf("MergeLabels(nil, nil) = %v", got)
	}
}

func TestParseAttach(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want Attach
		err  bool
	}{
		{nil, Attach{true, true, true}, false},
		{[]string{"stdout"}, Attach{Stdout: true}, false},
		{[]string{"STDERR", "stdin"}, Attach{Stdin: true, Stderr: true}, false},
		{[]string{"foo"}, Attach{}, true},
	} {
		got, err := ParseAttach(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseAttach(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// TestLabelFilter: ps --filter label=KEY and label=KEY=VALUE, podman's
// (label=KEY= is label=KEY in podman 4.3).
func TestLabelFilter(t *testing.T) {
	sb := &Sandbox{Record: sandbox.Record{Extra: sandbox.Extra{Labels: map[string]string{"x": "y", "z": ""}}}}
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{"label=x", true}, {"label=x=y", true}, {"label=x=n", false}, {"label=x=", true},
		{"label=z", true}, {"label=z=", true}, {"label=q", false},
	} {
		f, err := ParseFilters([]string{c.filter})
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		if got := f.Match(sb); got != c.want {
			t.Errorf("%s matches %v, want %v", c.filter, got, c.want)
		}
	}
	// Several label filters must all match, as podman's.
	for _, c := range []struct {
		filters []string
		want    bool
	}{
		{[]string{"label=x", "label=z"}, true},
		{[]string{"label=x", "label=q"}, false},
		{[]string{"label=x=y", "name=nomatch"}, false},
	} {
		f, err := ParseFilters(c.filters)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(sb); got != c.want {
			t.Errorf("%q matches %v, want %v", c.filters, got, c.want)
		}
	}
}

// TestCreateMergesImageExtra: the image's labels under the user's, its
// StopSignal unless --stop-signal, its exposed ports published by -P on
// a user-mode network only, -p's ports not twice.
func TestCreateMergesImageExtra(t *testing.T) {
	im := &index.Image{ID: "img", Config: index.Config{
		Labels: map[string]string{"a": "image", "b": "image"}, StopSignal: "USR1", ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
	}}
	slirp, err := network.ParseNetwork(network.Slirp4netns)
	if err != nil {
		t.Fatal(err)
	}
	o := CreateOptions{Network: slirp, PublishAll: true, Ports: []Port{{Proto: "tcp", HostPort: 8080, Container: 80}}}
	o.Labels = map[string]string{"b": "user"}
	o.ExposedPorts = []string{"9000/tcp"}
	if err := applyImageExtra(&o, im); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "image", "b": "user"}; !maps.Equal(o.Labels, want) {
		t.Errorf("labels %v, want %v", o.Labels, want)
	}
	if o.StopSignal != "SIGUSR1" {
		t.Errorf("stop signal %q, want the image's SIGUSR1", o.StopSignal)
	}
	if want := []string{"53/udp", "80/tcp", "9000/tcp"}; !slices.Equal(o.ExposedPorts, want) {
		t.Errorf("exposed %q, want %q", o.ExposedPorts, want)
	}
	want := []Port{{Proto: "tcp", HostPort: 8080, Container: 80}, {Proto: "udp", Container: 53}, {Proto: "tcp", Container: 9000}}
	if !slices.Equal(o.Ports, want) {
		t.Errorf("ports %+v, want %+v", o.Ports, want)
	}

	none, _ := network.ParseNetwork(network.None)
	o = CreateOptions{Network: none, PublishAll: true}
	o.StopSignal = "SIGINT"
	if err := applyImageExtra(&o, im); err != nil || len(o.Ports) != 0 || o.StopSignal != "SIGINT" {
		t.Errorf("-P with --network none: %v, ports %+v, stop signal %q", err, o.Ports, o.StopSignal)
	}
	o = CreateOptions{Network: none}
	o.DNSSearch = []string{"a.com"}
	if err := applyImageExtra(&o, im); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "conflicting options") {
		t.Errorf("--dns-search with --network none: %v, want podman's refusal", err)
	}
}

// TestStopUsesStopSignal: stop sends the sandbox's stop signal, and
// without -t waits its --stop-timeout.
func TestStopUsesStopSignal(t *testing.T) {
	e, h := testEngine(t)
	h.ignoreTERM = true
	var warned []string
	e.Warn = func(m string) { warned = append(warned, m) }
	zero := 0
	sb := createExtra(t, e, "usr1", sandbox.Extra{StopSignal: "SIGUSR1", StopTimeout: &zero})
	if err := e.StartCreated(context.Background(), sb); err != nil {
		t.Fatal(err)
	}
	// StopTimeout 0: killed at once, no signal first.
	if err := e.Stop(context.Background(), "usr1", StopTimeoutGrace); err != nil {
		t.Fatal(err)
	}
	want := []string{"start " + sb.ID, "killall " + sb.ID, "signal " + sb.ID + " 9"}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
	h.mu.Lock()
	h.calls = nil
	h.mu.Unlock()
	if _, err := e.Start(context.Background(), "usr1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(context.Background(), "usr1", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want = []string{"start " + sb.ID, "signal " + sb.ID + " 10", "killall " + sb.ID, "signal " + sb.ID + " 9"}
	if got := h.Calls(); !slices.Equal(got, want) {
		t.Errorf("host calls\n got %q\nwant %q", got, want)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "StopSignal SIGUSR1 failed") {
		t.Errorf("warnings: %q", warned)
	}
}

func TestStopGrace(t *testing.T) {
	five := 5
	with := &Sandbox{Record: sandbox.Record{Extra: sandbox.Extra{StopTimeout: &five}}}
	without := &Sandbox{}
	for _, c := range []struct {
		sb          *Sandbox
		grace, dflt time.Duration
		want        time.Duration
	}{
		{with, StopTimeoutGrace, 10 * time.Second, 5 * time.Second},
		{without, StopTimeoutGrace, 10 * time.Second, 10 * time.Second},
		{without, StopTimeoutGrace, 0, 0},
		{with, time.Second, 10 * time.Second, time.Second},
		{with, 0, 10 * time.Second, 0},
	} {
		if got := stopGrace(c.sb, c.grace, c.dflt); got != c.want {
			t.Errorf("stopGrace(%v, %v, %v) = %v, want %v", c.sb.StopTimeout, c.grace, c.dflt, got, c.want)
		}
	}
}

// createExtra is create with x.
func createExtra(t *testing.T, e *Engine, name string, x sandbox.Extra) *Sandbox {
	t.Helper()
	netw, err := network.ParseNetwork(network.None)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.Create(sandbox.Options{
		Paths: e.paths, Name: name, ImageRef: "test",
		Index:   &index.Index{Driver: "overlay", Home: filepath.Join(e.paths.Root, "storage")},
		Image:   &index.Image{ID: "img" + name, Config: index.Config{Cmd: []string{"true"}}},
		Network: netw, NetworkRaw: network.None, Extra: x,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}
