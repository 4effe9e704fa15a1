//go:build integration

package integration

// --format, inspect's docker schema, info and version. The expected
// outputs were first taken from rootless podman 4.3 on the same input
// (the differences are named where a case allows one).

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// formatStore has a running sandbox "web" and an exited one "done".
func formatStore(t *testing.T) (s *store, id string) {
	t.Helper()
	s = withImages(t, false)
	id = strings.TrimSpace(s.ok("run", "-d", "--name", "web", "--network", "none", "-e", "FOO=bar", "busybox", "sleep", "300"))
	if r := s.run("run", "--name", "done", "--network", "none", "busybox", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("run done: exit %d %s", r.code, r.stderr)
	}
	t.Cleanup(func() { s.run("rm", "-f", "web", "done") })
	return s, id
}

func TestFormatInspect(t *testing.T) {
	s, id := formatStore(t)
	imageID := strings.TrimSpace(s.ok("images", "-q", "--no-trunc"))
	for _, tt := range []struct{ format, want string }{
		// podman: "running [sleep 300]"
		{"{{.State.Status}} {{.Config.Cmd}}", "running [sleep 300]\n"},
		{"{{.Name}} {{.ImageName}} {{.Config.Image}}", "web busybox busybox\n"},
		{"{{.ID}}", id + "\n"},
		{"{{.Id}}", id + "\n"},
		{"{{.Image}}", imageID + "\n"},
		{"{{index .Config.Cmd 0}} {{join .Config.Cmd \",\"}} {{upper .State.Status}}", "sleep sleep,300 RUNNING\n"},
		{"{{range .Config.Cmd}}<{{.}}>{{end}}", "<sleep><300>\n"},
		{"{{.HostConfig.NetworkMode}} {{.HostConfig.AutoRemove}} {{.State.ExitCode}} {{.State.OOMKilled}}", "none false 0 false\n"},
		{"{{.Path}} {{.Args}}", "sleep [300]\n"},
		{`{{.Name}}\t{{.State.Running}}`, "web\ttrue\n"},
	} {
		if got := s.ok("inspect", "--format", tt.format, "web"); got != tt.want {
			t.Errorf("inspect --format %q: got %q, want %q", tt.format, got, tt.want)
		}
	}
	if env := s.ok("inspect", "-f", "{{json .Config.Env}}", "web"); !strings.Contains(env, `"FOO=bar"`) || !strings.HasPrefix(env, "[") {
		t.Errorf("{{json .Config.Env}}: %q", env)
	}
	if pid := s.ok("inspect", "--format", "{{.State.Pid}}", "web"); !regexp.MustCompile(`^[1-9]\d*\n$`).MatchString(pid) {
		t.Errorf("{{.State.Pid}}: %q", pid)
	}
	if got := s.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}", "done"); got != "exited 3 false\n" {
		t.Errorf("the exited sandbox: %q", got)
	}

	// The JSON is docker's schema: a list, its keys, RFC 3339 times.
	var list []map[string]any
	if err := json.Unmarshal([]byte(s.ok("inspect", "web", "done")), &list); err != nil || len(list) != 2 {
		t.Fatalf("inspect web done: %v %v", list, err)
	}
	web := list[0]
	state := web["State"].(map[string]any)
	for _, k := range []string{"StartedAt", "FinishedAt"} {
		if _, err := time.Parse(time.RFC3339Nano, state[k].(string)); err != nil {
			t.Errorf("State.%s: %v", k, err)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, web["Created"].(string)); err != nil {
		t.Errorf("Created: %v", err)
	}
	for _, k := range []string{"Id", "Name", "Path", "Args", "Image", "Config", "HostConfig", "Mounts", "NetworkSettings", "LogPath", "GraphDriver"} {
		if _, ok := web[k]; !ok {
			t.Errorf("inspect has no %s", k)
		}
	}
	cfg := web["Config"].(map[string]any)
	for _, k := range []string{"Hostname", "Env", "Cmd", "Entrypoint", "Labels", "User", "WorkingDir", "Image", "Tty", "OpenStdin"} {
		if _, ok := cfg[k]; !ok {
			t.Errorf("inspect has no Config.%s", k)
		}
	}
	hc := web["HostConfig"].(map[string]any)
	for _, k := range []string{"NetworkMode", "PortBindings", "Binds", "AutoRemove", "Memory", "NanoCpus", "PidsLimit", "CapAdd", "CapDrop", "ReadonlyRootfs", "Privileged", "SecurityOpt"} {
		if _, ok := hc[k]; !ok {
			t.Errorf("inspect has no HostConfig.%s", k)
		}
	}
	if list[1]["Name"] != "done" {
		t.Errorf("the second object is %v", list[1]["Name"])
	}

	// Images, through inspect, image inspect and --type.
	var ims []map[string]any
	if err := json.Unmarshal([]byte(s.ok("inspect", "busybox")), &ims); err != nil || len(ims) != 1 {
		t.Fatalf("inspect busybox: %v %v", ims, err)
	}
	for _, k := range []string{"Id", "RepoTags", "RepoDigests", "Created", "Config", "Architecture", "Os", "Size", "RootFS"} {
		if _, ok := ims[0][k]; !ok {
			t.Errorf("image inspect has no %s", k)
		}
	}
	if ims[0]["Id"] != imageID {
		t.Errorf("image Id %v, want %s", ims[0]["Id"], imageID)
	}
	if got := s.ok("image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{.RepoTags}} {{.RootFS.Type}}", "busybox"); got != "linux/amd64 [localhost/busybox:latest] layers\n" {
		t.Errorf("image inspect --format: %q", got)
	}
	if got := s.ok("inspect", "--type", "image", "--format", "{{.Id}}", "busybox"); got != imageID+"\n" {
		t.Errorf("inspect --type image: %q", got)
	}
	if got := s.ok("container", "inspect", "--format", "{{.Name}}", "web"); got != "web\n" {
		t.Errorf("container inspect: %q", got)
	}
	if got := s.ok("inspect", "--type", "container", "--format", "{{.Name}}", id[:12]); got != "web\n" {
		t.Errorf("inspect --type container: %q", got)
	}
	if got := s.ok("inspect", "--type", "all", "--format", "{{.Id}}", "web", "busybox"); got != id+"\n"+imageID+"\n" {
		t.Errorf("inspect --type all: %q", got)
	}
}

func TestFormatInspectErrors(t *testing.T) {
	s, _ := formatStore(t)
	// podman 4.3 word for word: the message, exit 125, and "[]" on stdout.
	r := s.fails(125, `inspecting object: no such object: "nosuch"`, "inspect", "nosuch")
	if r.stdout != "[]\n" {
		t.Errorf("inspect nosuch printed %q, want []", r.stdout)
	}
	s.fails(125, "inspecting object: no such container busybox", "inspect", "--type", "container", "busybox")
	s.fails(125, "inspecting object: web: image not known", "inspect", "--type", "image", "web")
	s.fails(125, "inspecting object: nosuch: image not known", "image", "inspect", "nosuch")
	s.fails(125, "inspecting object: no such container busybox", "container", "inspect", "busybox")
	s.fails(125, `invalid type "bogus"`, "inspect", "--type", "bogus", "web")
	s.fails(125, "no names or ids specified", "inspect")
	// What is found is printed, and the command still fails.
	r = s.fails(125, `no such object: "nosuch"`, "inspect", "--format", "{{.Name}}", "web", "nosuch")
	if r.stdout != "web\n" {
		t.Errorf("inspect web nosuch printed %q", r.stdout)
	}
	// A bad template: one line, exit 125, nothing on stdout.
	for _, f := range []string{"{{.State.Status", "{{.Nope}}", "{{nosuchfunc .}}"} {
		if r := s.fails(125, "inspect", "inspect", "--format", f, "web"); r.stdout != "" {
			t.Errorf("inspect --format %q printed %q", f, r.stdout)
		}
	}
	s.fails(125, "can't evaluate field Nope", "inspect", "--format", "{{.Nope}}", "busybox")
}

func TestFormatPS(t *testing.T) {
	s, id := formatStore(t)
	// podman: "fmtp1 Up 1 second ago" (usandbox says docker's "Up 1 second").
	if got := s.ok("ps", "--format", "{{.Names}} {{.Status}}"); !regexp.MustCompile(`^web Up .+\n$`).MatchString(got) {
		t.Errorf("ps --format '{{.Names}} {{.Status}}': %q", got)
	}
	if got := s.ok("ps", "-a", "--format", "{{.Names}} {{.State}} {{.ExitCode}} {{.Image}} {{.Command}}"); got != "done exited 3 busybox sh -c exit 3\nweb running 0 busybox sleep 300\n" &&
		got != "web running 0 busybox sleep 300\ndone exited 3 busybox sh -c exit 3\n" {
		t.Errorf("ps -a --format: %q", got)
	}
	if got := s.ok("ps", "--format", "{{.ID}}"); got != id[:12]+"\n" {
		t.Errorf("{{.ID}}: %q", got)
	}
	if got := s.ok("ps", "--no-trunc", "--format", "{{.ID}} {{.Labels}} {{.Ports}}."); got != id+" map[] .\n" {
		t.Errorf("--no-trunc {{.ID}}: %q", got)
	}
	// table: podman's headings and columns (12 wide at least, 2 apart).
	got := s.ok("ps", "--format", `table {{.ID}}\t{{.Names}}\t{{.CreatedHuman}}`)
	if !regexp.MustCompile(`^CONTAINER ID  NAMES       CREATED\n` + id[:12] + `  web         .+ ago\n$`).MatchString(got) {
		t.Errorf("ps table:\n%s", got)
	}
	if got := s.ok("ps", "--noheading", "--format", "table {{.Names}} {{.Pid}}"); !regexp.MustCompile(`^web +[1-9]\d*\n$`).MatchString(got) {
		t.Errorf("ps --noheading table: %q", got)
	}
	if got := s.ok("ps", "--format", "table"); !strings.Contains(got, "NAMES") || !strings.Contains(got, "web") {
		t.Errorf("ps --format table: %q", got)
	}
	// json: podman's field names.
	var ps []map[string]any
	if err := json.Unmarshal([]byte(s.ok("ps", "--format", "json")), &ps); err != nil || len(ps) != 1 {
		t.Fatalf("ps --format json: %v %v", ps, err)
	}
	for _, k := range []string{"Id", "Names", "Image", "ImageID", "Command", "Created", "CreatedAt", "State", "Status", "Pid", "Exited", "ExitCode", "ExitedAt", "StartedAt", "Labels", "Mounts", "Ports", "AutoRemove"} {
		if _, ok := ps[0][k]; !ok {
			t.Errorf("ps json has no %s", k)
		}
	}
	if ps[0]["Id"] != id || ps[0]["State"] != "running" || ps[0]["Names"].([]any)[0] != "web" {
		t.Errorf("ps json: %v", ps[0])
	}
	if got := s.ok("ps", "-a", "--filter", "name=nobody", "--format", "json"); got != "[]\n" {
		t.Errorf("empty ps --format json: %q", got)
	}
	s.fails(125, "can't evaluate field Nope", "ps", "--format", "{{.Nope}}")
	if r := s.fails(125, "template: ps", "ps", "--format", "table {{.Names"); r.stdout != "" {
		t.Errorf("a bad template printed %q", r.stdout)
	}
}

func TestFormatImages(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("images", "-q", "--no-trunc"))
	short := strings.TrimPrefix(id, "sha256:")[:12]
	if got := s.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Id}}"); got != "localhost/busybox:latest "+short+" "+short+"\n" {
		t.Errorf("images --format: %q", got)
	}
	got := s.ok("images", "--format", `table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`)
	if !regexp.MustCompile(`^REPOSITORY         TAG         IMAGE ID      CREATED +SIZE\nlocalhost/busybox  latest      ` + short + `  .+ ago +[\d.]+ [kM]B\n$`).MatchString(got) {
		t.Errorf("images table:\n%s", got)
	}
	if got := s.ok("images", "--noheading", "--format", "table {{.Tag}}"); got != "latest\n" {
		t.Errorf("images --noheading: %q", got)
	}
	if got := s.ok("images", "--format", "{{.Digest}}"); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("{{.Digest}}: %q", got)
	}
	var ims []map[string]any
	if err := json.Unmarshal([]byte(s.ok("images", "--format", "json")), &ims); err != nil || len(ims) != 1 {
		t.Fatalf("images --format json: %v %v", ims, err)
	}
	for _, k := range []string{"Id", "RepoTags", "RepoDigests", "Size", "Names", "Digest", "Created", "CreatedAt", "Containers", "Labels"} {
		if _, ok := ims[0][k]; !ok {
			t.Errorf("images json has no %s", k)
		}
	}
	if "sha256:"+ims[0]["Id"].(string) != id {
		t.Errorf("images json Id %v, want %s", ims[0]["Id"], id)
	}
	s.fails(125, "can't evaluate field Nope", "images", "--format", "{{.Nope}}")
	s.fails(125, "template: images", "images", "--format", "{{.Tag")
}

type idMapJSON struct {
	ContainerID int `json:"container_id"`
	HostID      int `json:"host_id"`
	Size        int `json:"size"`
}

func TestFormatInfoVersion(t *testing.T) {
	s, _ := formatStore(t)
	// podman version's lines, in podman's order.
	lines := strings.Split(strings.TrimSuffix(s.ok("version"), "\n"), "\n")
	want := []string{"Client:", "Version:", "API Version:", "Go Version:", "Built:", "OS/Arch:"}
	if len(lines) != len(want) {
		t.Fatalf("version:\n%s", strings.Join(lines, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) || len(lines[i]) < 15 || lines[i][13] != ' ' || lines[i][14] == ' ' {
			t.Errorf("version line %d: %q, want %s and the value at column 15", i, lines[i], w)
		}
	}
	v := s.ok("version", "--format", "{{.Client.Version}}")
	if !strings.HasSuffix(lines[1], " "+strings.TrimSpace(v)) {
		t.Errorf("{{.Client.Version}} %q, version says %q", v, lines[1])
	}
	if got := s.ok("version", "--format", "{{.Client.OsArch}} {{.Client.Os}}"); got != "linux/amd64 linux\n" {
		t.Errorf("{{.Client.OsArch}}: %q", got)
	}
	var vj struct {
		Client struct{ Version, APIVersion, GoVersion, OsArch string }
	}
	if err := json.Unmarshal([]byte(s.ok("version", "--format", "json")), &vj); err != nil || vj.Client.Version == "" || !strings.HasPrefix(vj.Client.GoVersion, "go") {
		t.Errorf("version --format json: %+v %v", vj, err)
	}

	if got := s.ok("info", "--format", "{{.Store.ContainerStore.Number}} {{.Store.ContainerStore.Running}} {{.Store.ContainerStore.Stopped}} {{.Store.ImageStore.Number}}"); got != "2 1 1 1\n" {
		t.Errorf("info counts: %q", got)
	}
	if got := s.ok("info", "--format", "{{.Host.Arch}} {{.Host.OS}} {{.Host.Security.Rootless}} {{.Store.GraphDriverName}} {{.Store.GraphRoot}}"); got != "amd64 linux true overlay "+s.root+"/storage\n" {
		t.Errorf("info host: %q", got)
	}
	var in struct {
		Host struct {
			Arch, Kernel, OS, CgroupVersion string
			IDMappings                      struct{ UIDMap, GIDMap []idMapJSON }
		}
		Store      struct{ GraphRoot, RunRoot string }
		Registries map[string]any
	}
	if err := json.Unmarshal([]byte(s.ok("info", "--format", "json")), &in); err != nil {
		t.Fatal(err)
	}
	if in.Host.Kernel == "" || (in.Host.CgroupVersion != "v1" && in.Host.CgroupVersion != "v2") || in.Store.RunRoot != s.runroot+"/storage" || in.Registries == nil {
		t.Errorf("info json: %+v", in)
	}
	if u := in.Host.IDMappings.UIDMap; len(u) == 0 || u[0].ContainerID != 0 || u[0].Size < 1 {
		t.Errorf("info idMappings: %+v", in.Host.IDMappings)
	}
	// Without --format: podman's YAML.
	if y := s.ok("info"); !strings.HasPrefix(y, "host:\n  arch: amd64\n") || !strings.Contains(y, "\nstore:\n") || !strings.Contains(y, "  graphDriverName: overlay\n") {
		t.Errorf("info:\n%s", y)
	}
	s.fails(125, "can't evaluate field Nope", "info", "--format", "{{.Nope}}")
	s.fails(125, "template: version", "version", "--format", "{{.Client")
	s.fails(125, "takes no arguments", "version", "x")
}
