//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Run and create flags of issue 12, each checked against rootless podman
// 4.3 on the same command line first (podman --runtime runc, busybox
// loaded with podman load); where usandbox differs, the test says why.

// flagImage builds an image from the busybox rootfs with mkimage's
// extra arguments (labels, exposed ports, a stop signal) and pulls it
// into s as localhost/NAME.
func flagImage(t *testing.T, s *store, name string, args ...string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	mk := exec.Command(env.mkimage, append([]string{"-out", dir, "-tag", "latest", "-cmd", `["sh"]`,
		"-layer-dir", filepath.Join(env.cache, "rootfs", "busybox")}, args...)...)
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v %s", err, b)
	}
	s.ok("pull", "-q", "oci:"+dir+":latest")
}

// rawInspect is inspect's JSON of one sandbox, as a map.
func (s *store) rawInspect(ref string) map[string]any {
	s.t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(s.ok("inspect", ref)), &out); err != nil || len(out) != 1 {
		s.t.Fatalf("inspect %s: %v %v", ref, out, err)
	}
	return out[0]
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// names is what ps -a --format json lists, by name.
func (s *store) psNames(args ...string) []string {
	s.t.Helper()
	var out []struct{ Names []string }
	if err := json.Unmarshal([]byte(s.ok(append([]string{"ps", "-a", "--format", "json"}, args...)...)), &out); err != nil {
		s.t.Fatal(err)
	}
	var names []string
	for _, e := range out {
		names = append(names, e.Names...)
	}
	return names
}

// TestFlagLabel: --label and --label-file over the image's labels, in
// inspect's Config.Labels; ps --filter label=KEY and label=KEY=VALUE
// (podman 4.3: label=KEY= is label=KEY). A bad label or label file
// leaves no sandbox.
func TestFlagLabel(t *testing.T) {
	s := withImages(t, false)
	flagImage(t, s, "labelled", "-label", "img=1", "-label", "x=from-image")
	file := filepath.Join(t.TempDir(), "labels")
	if err := os.WriteFile(file, []byte("a=1\n# comment\n\nb=2 x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.ok("create", "--name", "l1", "-l", "x=y", "--label", "z", "--label-file", file, "labelled", "true")
	s.ok("create", "--name", "l2", "busybox", "true")
	got, _ := json.Marshal(field(s.rawInspect("l1"), "Config", "Labels"))
	if want := `{"a":"1","b":"2 x","img":"1","x":"y","z":""}`; string(got) != want {
		t.Errorf("Config.Labels %s, want %s", got, want)
	}
	for _, c := range []struct {
		filter string
		want   string
	}{
		{"label=x", "l1"}, {"label=x=y", "l1"}, {"label=x=n", ""}, {"label=z=", "l1"}, {"label=img=1", "l1"}, {"label=q", ""},
	} {
		if got := strings.Join(s.psNames("--filter", c.filter), ","); got != c.want {
			t.Errorf("ps --filter %s: %q, want %q", c.filter, got, c.want)
		}
	}
	// Several label filters must all match, as podman's.
	if got := s.psNames("--filter", "label=x", "--filter", "label=q"); len(got) != 0 {
		t.Errorf("ps --filter label=x --filter label=q: %q, want none", got)
	}
	before := len(s.sandboxes())
	s.fails(125, "unable to process labels", "create", "--label-file", filepath.Join(t.TempDir(), "nosuch"), "busybox", "true")
	s.fails(125, "invalid label format", "run", "--rm", "-l", "=x", "busybox", "true")
	if n := len(s.sandboxes()); n != before {
		t.Errorf("a refused label left a sandbox: %d, was %d", n, before)
	}
}

// TestFlagImagesFilter: images --filter label=, dangling=, reference=
// (a pattern), images --all; a bad filter is 125 (podman's "unsupported
// image filter", "non-boolean value").
func TestFlagImagesFilter(t *testing.T) {
	s := withImages(t, false)
	flagImage(t, s, "labelled", "-label", "k=v")
	ids := map[string]string{}
	for _, im := range s.images() {
		ids[im.Names[0]] = im.ID[:12]
	}
	bb, lab := ids["localhost/busybox:latest"], ids["localhost/labelled:latest"]
	if bb == "" || lab == "" {
		t.Fatalf("images: %v", ids)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--filter", "label=k"}, lab},
		{[]string{"--filter", "label=k=v"}, lab},
		{[]string{"--filter", "label=k=w"}, ""},
		{[]string{"--filter", "dangling=true"}, ""},
		{[]string{"--filter", "reference=busybox"}, bb},
		{[]string{"--filter", "reference=*box"}, bb},
		{[]string{"--filter", "reference=localhost/label*"}, lab},
		{[]string{"--filter", "reference=busybox:nope"}, ""},
	} {
		out := strings.TrimSpace(s.ok(append([]string{"images", "-q"}, c.args...)...))
		if out != c.want {
			t.Errorf("images %v: %q, want %q", c.args, out, c.want)
		}
	}
	all := strings.Fields(s.ok("images", "-q", "--all"))
	if len(all) != 2 {
		t.Errorf("images --all: %q, want both images", all)
	}
	if out := s.ok("images", "--filter", "dangling=false"); !strings.Contains(out, "localhost/busybox") || !strings.Contains(out, "localhost/labelled") {
		t.Errorf("images --filter dangling=false:\n%s", out)
	}
	s.fails(125, "unsupported image filter", "images", "--filter", "bogus=1")
	s.fails(125, "dangling", "images", "--filter", "dangling=maybe")
}

// TestFlagPull: --pull missing (the default) pulls only what the store
// lacks, newer pulls what the registry changed, always pulls every time,
// never fails on a missing image with podman's "image not known" and
// leaves nothing; an unknown policy is podman's "unsupported pull policy".
func TestFlagPull(t *testing.T) {
	s := newStore(t)
	conf := filepath.Join(t.TempDir(), "registries.conf")
	t.Setenv("CONTAINERS_REGISTRIES_CONF", conf)
	reg := fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", env.registry)
	if err := os.WriteFile(conf, []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := regRef(fmt.Sprintf("flags-pull-%d:latest", os.Getpid()))
	push := func(x string) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "img")
		mk := exec.Command(env.mkimage, "-out", dir, "-tag", "latest", "-cmd", `["sh"]`, "-env", "X="+x,
			"-layer-dir", filepath.Join(env.cache, "rootfs", "busybox"))
		if b, err := mk.CombinedOutput(); err != nil {
			t.Fatalf("mkimage: %v %s", err, b)
		}
		cp := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci:"+dir+":latest", "docker://"+ref)
		if b, err := cp.CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy: %v %s", err, b)
		}
	}
	x := func(policy string) string {
		t.Helper()
		r := s.run("run", "--rm", "--network", "none", "--pull", policy, ref, "sh", "-c", "echo $X")
		if r.code != 0 {
			t.Fatalf("run --pull %s: exit %d\n%s", policy, r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}

	r := s.fails(125, "image not known", "run", "--rm", "--pull", "never", ref, "true")
	if strings.Contains(r.stderr, "Unable to find") || len(s.images()) != 0 {
		t.Errorf("--pull never pulled: %s", r.stderr)
	}
	s.assertNoSandboxes()
	s.fails(125, "unsupported pull policy", "run", "--rm", "--pull", "sometimes", "busybox", "true")

	push("1")
	if got := x("missing"); got != "1" {
		t.Fatalf("--pull missing: X=%s", got)
	}
	push("2")
	if got := x("missing"); got != "1" {
		t.Errorf("--pull missing pulled again: X=%s", got)
	}
	if got := x("never"); got != "1" {
		t.Errorf("--pull never: X=%s", got)
	}
	if got := x("newer"); got != "2" {
		t.Errorf("--pull newer did not pull the changed image: X=%s", got)
	}
	push("3")
	if got := x("always"); got != "3" {
		t.Errorf("--pull always did not pull: X=%s", got)
	}
	if got := x("Always"); got != "3" { // podman takes any case
		t.Errorf("--pull Always: X=%s", got)
	}
	// newer forgives a registry that cannot be reached when the store
	// has the image, and says nothing (podman's).
	s.ok("pull", "-q", ociRef("busybox", "latest"))
	if r := s.run("run", "--rm", "--network", "none", "--pull", "newer", "localhost/busybox", "echo", "local"); r.code != 0 || r.stdout != "local\n" || r.stderr != "" {
		t.Errorf("--pull newer with an unreachable registry: %d %q %q", r.code, r.stdout, r.stderr)
	}
	s.assertNoSandboxes()
}

// TestFlagReplace: --replace stops and removes the sandbox of that name
// and prints its name, as podman does; without --name it is refused.
func TestFlagReplace(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "r1", "busybox", "sleep", "100")
	old := s.inspect("r1").ID
	r := s.run("run", "--replace", "--name", "r1", "--network", "none", "busybox", "echo", "replaced")
	if r.code != 0 || r.stdout != "r1\nreplaced\n" {
		t.Fatalf("run --replace: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if in := s.inspect("r1"); in.ID == old || in.State.Running {
		t.Errorf("after --replace: %+v (old ID %s)", in, old)
	}
	if n := len(s.sandboxes()); n != 1 {
		t.Errorf("%d sandboxes after --replace, want 1", n)
	}
	// No sandbox of that name yet: nothing to print.
	if out := s.ok("create", "--replace", "--name", "fresh", "busybox", "true"); !hexID.MatchString(strings.TrimSpace(out)) {
		t.Errorf("create --replace of a new name printed %q", out)
	}
	s.fails(125, "--name", "run", "--rm", "--replace", "busybox", "true")
	if n := len(s.sandboxes()); n != 2 {
		t.Errorf("%d sandboxes, want 2", n)
	}
}

// TestFlagCidfile: --cidfile gets the full ID, no newline, as podman
// writes it; an existing file is refused before anything is created
// (podman's words), and a failed create removes the file it made.
func TestFlagCidfile(t *testing.T) {
	s := withImages(t, false)
	cid := filepath.Join(t.TempDir(), "cid")
	id := strings.TrimSpace(s.ok("create", "--cidfile", cid, "busybox", "true"))
	if b, err := os.ReadFile(cid); err != nil || string(b) != id {
		t.Fatalf("cidfile: %q %v, want %q", b, err, id)
	}
	s.fails(125, "container id file exists", "run", "--rm", "--cidfile", cid, "busybox", "true")
	if n := len(s.sandboxes()); n != 1 {
		t.Errorf("%d sandboxes after a refused --cidfile, want 1", n)
	}
	other := filepath.Join(t.TempDir(), "cid2")
	s.fails(125, "image not known", "create", "--pull", "never", "--cidfile", other, "nosuch", "true")
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("a failed create left its cidfile: %v", err)
	}
	if n := len(s.sandboxes()); n != 1 {
		t.Errorf("%d sandboxes after a failed create, want 1", n)
	}
}

// TestFlagStopSignal: stop sends --stop-signal (or the image's
// StopSignal) first; inspect shows it; a bad one is refused.
func TestFlagStopSignal(t *testing.T) {
	s := withImages(t, false)
	flagImage(t, s, "usr2", "-stop-signal", "SIGUSR2")
	trap := func(sig string, code int) string {
		return fmt.Sprintf(`trap "echo got %s; exit %d" %s; echo started; while :; do sleep 0.1; done`, sig, code, sig)
	}
	s.ok("run", "-d", "--name", "s1", "--stop-signal", "USR1", "busybox", "sh", "-c", trap("USR1", 7))
	s.ok("run", "-d", "--name", "s2", "usr2", "sh", "-c", trap("USR2", 9))
	for _, n := range []string{"s1", "s2"} {
		waitFor(t, n+" to start", func() bool { return strings.Contains(s.ok("logs", n), "started") })
	}
	if out := s.ok("stop", "s1", "s2"); out != "s1\ns2\n" {
		t.Errorf("stop: %q", out)
	}
	for _, c := range []struct {
		name, sig string
		code      int
	}{{"s1", "SIGUSR1", 7}, {"s2", "SIGUSR2", 9}} {
		if logs := s.ok("logs", c.name); !strings.Contains(logs, "got "+strings.TrimPrefix(c.sig, "SIG")) {
			t.Errorf("%s did not get its stop signal: %q", c.name, logs)
		}
		if code := s.inspect(c.name).State.ExitCode; code != c.code {
			t.Errorf("%s exited %d, want %d", c.name, code, c.code)
		}
		if got := field(s.rawInspect(c.name), "Config", "StopSignal"); got != c.sig {
			t.Errorf("%s: Config.StopSignal %v, want %s", c.name, got, c.sig)
		}
	}
	before := len(s.sandboxes())
	s.fails(125, "--stop-signal", "run", "--rm", "--stop-signal", "NOPE", "busybox", "true")
	if n := len(s.sandboxes()); n != before {
		t.Errorf("a bad --stop-signal left a sandbox")
	}
}

// TestFlagStopTimeout: stop, restart and rm -f without -t give the stop
// signal --stop-timeout seconds (the warning names them, in podman's
// words); -t still wins.
func TestFlagStopTimeout(t *testing.T) {
	s := withImages(t, false)
	stubborn := `trap "" TERM; echo started; while :; do sleep 0.1; done`
	s.ok("run", "-d", "--name", "st", "--stop-timeout", "1", "busybox", "sh", "-c", stubborn)
	waitFor(t, "st to start", func() bool { return strings.Contains(s.ok("logs", "st"), "started") })
	r := s.run("stop", "st")
	if r.code != 0 || !strings.Contains(r.stderr, "failed to stop sandbox st in 1 seconds, resorting to SIGKILL") {
		t.Errorf("stop: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := field(s.rawInspect("st"), "Config", "StopTimeout"); got != float64(1) {
		t.Errorf("Config.StopTimeout %v, want 1", got)
	}
	s.ok("start", "st")
	waitFor(t, "st to start again", func() bool { return strings.Count(s.ok("logs", "st"), "started") == 2 })
	if r := s.run("rm", "-f", "st"); r.code != 0 || !strings.Contains(r.stderr, "in 1 seconds") {
		t.Errorf("rm -f: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// -t 0 wins over --stop-timeout: killed at once, no warning.
	s.ok("run", "-d", "--name", "st2", "--stop-timeout", "30", "busybox", "sh", "-c", stubborn)
	if r := s.run("stop", "-t", "0", "st2"); r.code != 0 || r.stderr != "" {
		t.Errorf("stop -t 0: %d %q", r.code, r.stderr)
	}
	s.fails(125, "stop-timeout", "run", "--rm", "--stop-timeout", "-1", "busybox", "true")
}

// TestFlagPublishAll: -P publishes the image's ExposedPorts and
// --expose's on free host ports; port and ps show them; --expose
// without -P publishes nothing (podman's); a bad --expose leaves nothing.
func TestFlagPublishAll(t *testing.T) {
	s := withImages(t, false)
	flagImage(t, s, "exposing", "-expose", "8080/tcp")
	s.ok("run", "-d", "--name", "p1", "-P", "--expose", "9000-9001/udp", "exposing", "sleep", "100")
	out := s.ok("port", "p1")
	re := regexp.MustCompile(`(?m)^(8080/tcp|9000/udp|9001/udp) -> 0\.0\.0\.0:[0-9]+$`)
	if n := len(re.FindAllString(out, -1)); n != 3 {
		t.Errorf("port p1:\n%s", out)
	}
	if ps := s.ok("ps"); !strings.Contains(ps, "->8080/tcp") || !strings.Contains(ps, "->9001/udp") {
		t.Errorf("ps:\n%s", ps)
	}
	got, _ := json.Marshal(field(s.rawInspect("p1"), "Config", "ExposedPorts"))
	if want := `{"8080/tcp":{},"9000/udp":{},"9001/udp":{}}`; string(got) != want {
		t.Errorf("Config.ExposedPorts %s, want %s", got, want)
	}
	s.ok("run", "-d", "--name", "p2", "--expose", "7000", "exposing", "sleep", "100")
	if out := s.ok("port", "p2"); out != "" {
		t.Errorf("--expose without -P published: %q", out)
	}
	before := len(s.sandboxes())
	s.fails(125, "--expose", "run", "--rm", "--expose", "abc", "busybox", "true")
	s.fails(125, "--expose", "run", "--rm", "--expose", "70000", "busybox", "true")
	if n := len(s.sandboxes()); n != before {
		t.Errorf("a bad --expose left a sandbox")
	}
}

// TestFlagAddHost: --add-host lines come first in /etc/hosts, as
// podman's; bad ones are podman's errors and leave nothing.
func TestFlagAddHost(t *testing.T) {
	s := withImages(t, false)
	out := s.ok("run", "--rm", "--network", "none", "--add-host", "foo:1.2.3.4", "--add-host", "v6:::1", "busybox", "cat", "/etc/hosts")
	if !strings.HasPrefix(out, "1.2.3.4\tfoo\n::1\tv6\n127.0.0.1\tlocalhost\n") {
		t.Errorf("/etc/hosts:\n%s", out)
	}
	s.fails(125, "bad format for add-host", "run", "--rm", "--add-host", "foo", "busybox", "true")
	s.fails(125, "invalid IP address in add-host", "run", "--rm", "--add-host", "foo:notanip", "busybox", "true")
	s.assertNoSandboxes()
}

// TestFlagDNSSearchOption: --dns-search and --dns-option make the search
// and options lines of /etc/resolv.conf, as podman's; with --network
// none they are podman's "conflicting options".
func TestFlagDNSSearchOption(t *testing.T) {
	s := withImages(t, false)
	out := s.ok("run", "--rm", "--dns-search", "example.com", "--dns-search", "b.org", "--dns-option", "ndots:2", "--dns-option", "rotate",
		"busybox", "cat", "/etc/resolv.conf")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] != "search example.com b.org" || lines[len(lines)-1] != "options ndots:2 rotate" || !strings.HasPrefix(lines[1], "nameserver ") {
		t.Errorf("/etc/resolv.conf:\n%s", out)
	}
	if out := s.ok("run", "--rm", "--dns-search", ".", "busybox", "cat", "/etc/resolv.conf"); strings.Contains(out, "search") {
		t.Errorf("--dns-search . kept a search line:\n%s", out)
	}
	s.fails(125, "conflicting options", "run", "--rm", "--network", "none", "--dns-search", "a.com", "busybox", "true")
	s.assertNoSandboxes()
}

// TestFlagEnvHost: --env-host passes usandbox's environment (PATH too,
// as podman does); -e wins; the sandbox keeps its own HOSTNAME.
func TestFlagEnvHost(t *testing.T) {
	s := withImages(t, false)
	c := s.cmd("run", "--rm", "--network", "none", "--hostname", "inside", "--env-host", "busybox", "sh", "-c", `echo "$FLAGS_X $PATH $HOSTNAME"`)
	c.Env = append(os.Environ(), "FLAGS_X=from-host", "HOSTNAME=outside")
	out, err := c.Output()
	if want := "from-host " + os.Getenv("PATH") + " inside\n"; err != nil || string(out) != want {
		t.Errorf("--env-host: %q %v, want %q", out, err, want)
	}
	c = s.cmd("run", "--rm", "--network", "none", "--env-host", "-e", "FLAGS_X=flag", "busybox", "sh", "-c", `echo $FLAGS_X`)
	c.Env = append(os.Environ(), "FLAGS_X=from-host")
	if out, err := c.Output(); err != nil || string(out) != "flag\n" {
		t.Errorf("--env-host -e: %q %v", out, err)
	}
	if out := s.ok("run", "--rm", "--network", "none", "busybox", "sh", "-c", `echo ${USANDBOX_BIN:-unset}`); out != "unset\n" {
		t.Errorf("without --env-host the host's environment leaked: %q", out)
	}
}

// TestFlagTimeout: --timeout kills the sandbox after N seconds; it exits
// 255, as podman's (attached and detached); a bad value is 125.
func TestFlagTimeout(t *testing.T) {
	s := withImages(t, false)
	r := s.run("run", "--rm", "--network", "none", "--timeout", "1", "busybox", "sh", "-c", "echo hi; sleep 60")
	if r.code != 255 || r.stdout != "hi\n" {
		t.Errorf("run --timeout 1: %d %q %q", r.code, r.stdout, r.stderr)
	}
	s.ok("run", "-d", "--name", "t1", "--network", "none", "--timeout", "1", "busybox", "sleep", "60")
	waitFor(t, "t1 to be killed", func() bool { return !s.inspect("t1").State.Running })
	if code := s.inspect("t1").State.ExitCode; code != 255 {
		t.Errorf("detached --timeout: exit %d, want 255", code)
	}
	if r := s.run("run", "--rm", "--network", "none", "--timeout", "60", "busybox", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("--timeout not reached: exit %d", r.code)
	}
	r = s.run("run", "--rm", "--timeout", "x", "busybox", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "timeout") {
		t.Errorf("--timeout x: %d %q", r.code, r.stderr)
	}
}

// TestFlagSigProxy: an attached run passes SIGTERM on to the command by
// default; with --sig-proxy=false the signal is dropped and the command
// runs to its end.
func TestFlagSigProxy(t *testing.T) {
	s := withImages(t, false)
	script := `trap "echo got TERM; exit 3" TERM; echo ready >&2; i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; echo done`
	for _, c := range []struct {
		flag string
		out  string
		code int
	}{{"--sig-proxy=true", "got TERM\n", 3}, {"--sig-proxy=false", "done\n", 0}} {
		cmd := s.cmd("run", "--rm", "--network", "none", c.flag, "busybox", "sh", "-c", script)
		var out syncBuffer
		cmd.Stdout = &out
		_, done := startUntil(t, cmd, "ready")
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err := <-done
		if code := exitCode(err); code != c.code || out.String() != c.out {
			t.Errorf("%s: exit %d, stdout %q; want %d, %q", c.flag, code, out.String(), c.code, c.out)
		}
	}
}

// TestFlagAttach: -a picks the output streams of an attached run; stdin
// follows -i, as podman 4.3's; -a with -d and an unknown stream are
// refused.
func TestFlagAttach(t *testing.T) {
	s := withImages(t, false)
	both := []string{"busybox", "sh", "-c", "echo out; echo err >&2"}
	for _, c := range []struct {
		args           []string
		stdout, stderr string
	}{
		{[]string{"-a", "stdout"}, "out\n", ""},
		{[]string{"-a", "stderr"}, "", "err\n"},
		{[]string{"-a", "stdout", "-a", "stderr"}, "out\n", "err\n"},
	} {
		r := s.run(append(append([]string{"run", "--rm", "--network", "none"}, c.args...), both...)...)
		if r.code != 0 || r.stdout != c.stdout || r.stderr != c.stderr {
			t.Errorf("%v: %d %q %q; want %q %q", c.args, r.code, r.stdout, r.stderr, c.stdout, c.stderr)
		}
	}
	c := s.cmd("run", "--rm", "--network", "none", "-i", "-a", "stdout", "busybox", "cat")
	c.Stdin = strings.NewReader("hello\n")
	if out, err := c.Output(); err != nil || string(out) != "hello\n" {
		t.Errorf("-i -a stdout: %q %v", out, err)
	}
	s.fails(125, "invalid stream", "run", "--rm", "-a", "foo", "busybox", "true")
	s.fails(125, "conflicting options", "run", "-d", "-a", "stdout", "busybox", "true")
	s.assertNoSandboxes()
}

// TestFlagLogLevel: --log-level debug tells what usandbox does on
// stderr; error hides warnings; an unknown level is podman's message and
// status 1.
func TestFlagLogLevel(t *testing.T) {
	s := withImages(t, false)
	r := s.run("--log-level", "debug", "run", "--rm", "--network", "none", "busybox", "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" || !strings.Contains(r.stderr, "level=debug") || !strings.Contains(r.stderr, "created sandbox") {
		t.Errorf("--log-level debug: %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	warnArgs := []string{"run", "--rm", "--network", "none", "-p", "8080:80", "busybox", "true"}
	if r := s.run(warnArgs...); r.code != 0 || !strings.Contains(r.stderr, "WARN") {
		t.Fatalf("no warning to hide: %d %q", r.code, r.stderr)
	}
	if r := s.run(append([]string{"--log-level", "error"}, warnArgs...)...); r.code != 0 || r.stderr != "" {
		t.Errorf("--log-level error: %d %q", r.code, r.stderr)
	}
	if r := s.run(append([]string{"--log-level", "info"}, warnArgs...)...); r.code != 0 || !strings.Contains(r.stderr, "WARN") {
		t.Errorf("--log-level info hid the warning: %d %q", r.code, r.stderr)
	}
	r = s.run("--log-level", "nope", "ps")
	if r.code != 1 || !strings.Contains(r.stderr, `Log Level "nope" is not supported, choose from: trace, debug, info, warn, warning, error, fatal, panic`) {
		t.Errorf("--log-level nope: %d %q", r.code, r.stderr)
	}
}

// TestFlagNoout: --noout hides what usandbox itself prints on stdout
// (the ID of run -d, ps, images) but not the command's output; errors
// still show.
func TestFlagNoout(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("--noout", "run", "-d", "--name", "n1", "--network", "none", "busybox", "sleep", "100"); out != "" {
		t.Errorf("--noout run -d printed %q", out)
	}
	if !s.inspect("n1").State.Running {
		t.Errorf("n1 is not running")
	}
	if out := s.ok("--noout", "run", "--rm", "--network", "none", "busybox", "echo", "visible"); out != "visible\n" {
		t.Errorf("--noout run: %q", out)
	}
	for _, args := range [][]string{{"ps", "-a"}, {"images"}, {"inspect", "n1"}} {
		if out := s.ok(append([]string{"--noout"}, args...)...); out != "" {
			t.Errorf("--noout %v printed %q", args, out)
		}
	}
	s.fails(1, "nosuch", "--noout", "rm", "nosuch")
}
