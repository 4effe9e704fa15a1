package docker

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"

	"usandbox/cgroupv2"
	unet "usandbox/network"
	"usandbox/sandbox"
	"usandbox/sandbox/caps"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
)

var (
	created = time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	started = created.Add(time.Second)
)

func testImage() *index.Image {
	return &index.Image{
		ID: "2efe336638a1" + strings.Repeat("0", 52), Names: []string{"docker.io/library/web:1", "localhost/web:latest"},
		Digest: "sha256:140a", Created: created, Size: 2130110, Architecture: "amd64", OS: "linux",
		Config: index.Config{
			Entrypoint: []string{"/entry"}, Cmd: []string{"serve"}, Env: []string{"PATH=/bin"}, WorkingDir: "/srv", User: "www",
			Labels: map[string]string{"org": "x"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}, Volumes: map[string]struct{}{"/data": {}},
		},
		DiffIDs: []string{"sha256:aaa", "sha256:bbb"},
	}
}

func testSandbox() *sandbox.Sandbox {
	sb := &sandbox.Sandbox{Dir: "/store/sandboxes/abc"}
	sb.ID, sb.Name, sb.Image, sb.ImageID = "abc123", "web", "web:1", testImage().ID
	sb.Command = []string{"/entry", "serve", "-v"}
	sb.Created, sb.AutoRemove = created, true
	sb.Network = unet.Options{Mode: "slirp4netns"}
	sb.Ports = []unet.Port{{Proto: "tcp", HostPort: 8080, Container: 80}, {Proto: "udp", HostIP: "127.0.0.1", HostPort: 53, Container: 53}}
	sb.Limits = cgroupv2.Limits{Memory: 64 << 20, CPUQuota: 150000, CPUPeriod: 100000, PidsLimit: 100}
	sb.Spec = spec.Spec{
		Hostname: "abc123", StateDir: "/run/abc", Network: "slirp4netns", UserNS: true, ReadOnly: true,
		Process:      spec.Process{Env: []string{"PATH=/bin", "A=1"}, Cwd: "/srv", User: "www", Terminal: true},
		Capabilities: append(removed(caps.Default, "MKNOD"), "NET_ADMIN"),
		Mounts: []spec.Mount{
			{Type: "bind", Source: "/run/abc/etc/hosts", Destination: "/etc/hosts"},
			{Type: "bind", Source: "/home/u/src", Destination: "/src", ReadOnly: true},
			{Type: "tmpfs", Destination: "/tmp", Options: "size=1m"},
		},
		Rootfs: spec.Rootfs{Home: "/store/overlay", Lowers: []string{"l2/diff", "l1/diff"}, Upper: "/u", Work: "/w", Target: "/m"},
	}
	sb.State = sandbox.State{Status: sandbox.StatusRunning, Running: true, Pid: 42, StartedAt: started}
	return sb
}

func removed(list []string, x string) []string {
	var out []string
	for _, s := range list {
		if s != x {
			out = append(out, s)
		}
	}
	return out
}

func TestContainer(t *testing.T) {
	r := Container(testSandbox(), testImage())
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"Id", r.ID, "abc123"},
		{"Name", r.Name, "/web"},
		{"Created", r.Created, "2026-01-02T02:04:05.0000006Z"},
		{"Path", r.Path, "/entry"},
		{"Args", r.Args, []string{"serve", "-v"}},
		{"Image", r.Image, "sha256:" + testImage().ID},
		{"State.Status", string(r.State.Status), "running"},
		{"State.Running", r.State.Running, true},
		{"State.Pid", r.State.Pid, 42},
		{"State.StartedAt", r.State.StartedAt, "2026-01-02T02:04:06.0000006Z"},
		{"State.FinishedAt", r.State.FinishedAt, "0001-01-01T00:00:00Z"},
		{"Config.Entrypoint", r.Config.Entrypoint, []string{"/entry"}},
		{"Config.Cmd", r.Config.Cmd, []string{"serve", "-v"}},
		{"Config.Env", r.Config.Env, []string{"PATH=/bin", "A=1"}},
		{"Config.Image", r.Config.Image, "web:1"},
		{"Config.Labels", r.Config.Labels, map[string]string{"org": "x"}},
		{"Config.Tty", r.Config.Tty, true},
		{"Config.Volumes", r.Config.Volumes, map[string]struct{}{"/data": {}}},
		{"HostsPath", r.HostsPath, "/run/abc/etc/hosts"},
		{"LogPath", r.LogPath, "/store/sandboxes/abc/ctr.log"},
		{"HostConfig.NetworkMode", string(r.HostConfig.NetworkMode), "slirp4netns"},
		{"HostConfig.AutoRemove", r.HostConfig.AutoRemove, true},
		{"HostConfig.Memory", r.HostConfig.Memory, int64(64 << 20)},
		{"HostConfig.NanoCpus", r.HostConfig.NanoCPUs, int64(1.5e9)},
		{"HostConfig.PidsLimit", *r.HostConfig.PidsLimit, int64(100)},
		{"HostConfig.CapAdd", r.HostConfig.CapAdd, []string{"NET_ADMIN"}},
		{"HostConfig.CapDrop", r.HostConfig.CapDrop, []string{"MKNOD"}},
		{"HostConfig.ReadonlyRootfs", r.HostConfig.ReadonlyRootfs, true},
		{"HostConfig.SecurityOpt", r.HostConfig.SecurityOpt, []string{"seccomp=default"}},
		{"HostConfig.Binds", r.HostConfig.Binds, []string{"/home/u/src:/src:ro"}},
		{"HostConfig.Tmpfs", r.HostConfig.Tmpfs, map[string]string{"/tmp": "size=1m"}},
		{"GraphDriver.LowerDir", r.GraphDriver.Data["LowerDir"], "/store/overlay/l2/diff:/store/overlay/l1/diff"},
		{"Mounts", len(r.Mounts), 2}, // not the generated /etc files
		{"Mounts[0]", r.Mounts[0].Source + " " + r.Mounts[0].Destination + " " + r.Mounts[0].Mode, "/home/u/src /src ro"},
		{"Mounts[0].RW", r.Mounts[0].RW, false},
		{"Mounts[1].Type", string(r.Mounts[1].Type), "tmpfs"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	tcp80, udp53 := network.MustParsePort("80/tcp"), network.MustParsePort("53/udp")
	if _, ok := r.Config.ExposedPorts[tcp80]; !ok || len(r.Config.ExposedPorts) != 2 {
		t.Errorf("ExposedPorts %v", r.Config.ExposedPorts)
	}
	// Where it listens, in NetworkSettings; as given, in HostConfig.
	if b := r.NetworkSettings.Ports[tcp80]; len(b) != 1 || b[0].HostIP != netip.IPv4Unspecified() || b[0].HostPort != "8080" {
		t.Errorf("NetworkSettings.Ports[80/tcp] = %v", b)
	}
	if b := r.NetworkSettings.Ports[udp53]; len(b) != 1 || b[0].HostIP.String() != "127.0.0.1" {
		t.Errorf("NetworkSettings.Ports[53/udp] = %v", b)
	}
	if b := r.HostConfig.PortBindings[tcp80]; len(b) != 1 || b[0].HostIP.IsValid() {
		t.Errorf("HostConfig.PortBindings[80/tcp] = %v", b)
	}
	// The JSON is docker's: its keys, its empty lists.
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Id":"abc123"`, `"NanoCpus":1500000000`, `"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]`, `"OOMKilled":false`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON has no %s:\n%s", want, js)
		}
	}
}

func TestContainerWithoutImage(t *testing.T) {
	sb := testSandbox()
	sb.Command = []string{"sh"}
	sb.Spec.Process.Env = nil
	r := Container(sb, nil)
	if r.Config.Entrypoint != nil || !reflect.DeepEqual(r.Config.Cmd, []string{"sh"}) || r.Config.Env == nil || len(r.Config.Labels) != 0 {
		t.Errorf("Config %+v", r.Config)
	}
	// --entrypoint replaced the image's: all of the command is Cmd.
	sb.Command = []string{"/other", "x"}
	if r := Container(sb, testImage()); r.Config.Entrypoint != nil || len(r.Config.Cmd) != 2 {
		t.Errorf("with --entrypoint: %v %v", r.Config.Entrypoint, r.Config.Cmd)
	}
}

func TestContainerStates(t *testing.T) {
	sb := testSandbox()
	sb.State = sandbox.State{Status: sandbox.StatusExited, ExitCode: 137, OOMKilled: true, StartedAt: started, FinishedAt: started.Add(time.Minute)}
	st := Container(sb, nil).State
	if st.Running || st.ExitCode != 137 || !st.OOMKilled || st.FinishedAt != "2026-01-02T02:05:06.0000006Z" || st.Status != "exited" {
		t.Errorf("exited: %+v", st)
	}
	// Health, restarts and the log driver, as docker names them.
	sb = testSandbox()
	sb.Healthcheck = &sandbox.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Retries: 3}
	sb.State.Health = &sandbox.Health{Status: "healthy", Log: []sandbox.HealthResult{{Start: started, End: started, ExitCode: 0, Output: "ok"}}}
	sb.State.RestartCount = 2
	sb.RestartPolicy, sb.RestartMax = "on-failure", 5
	sb.LogDriver, sb.LogMaxSize = sandbox.LogNone, 1024
	r := Container(sb, nil)
	if h := r.State.Health; h == nil || h.Status != "healthy" || len(h.Log) != 1 || h.Log[0].Output != "ok" {
		t.Errorf("State.Health: %+v", h)
	}
	if hc := r.Config.Healthcheck; hc == nil || hc.Interval != time.Second || hc.Retries != 3 || hc.Test[1] != "true" {
		t.Errorf("Config.Healthcheck: %+v", hc)
	}
	if r.RestartCount != 2 || r.HostConfig.RestartPolicy.Name != "on-failure" || r.HostConfig.RestartPolicy.MaximumRetryCount != 5 {
		t.Errorf("restart: %d %+v", r.RestartCount, r.HostConfig.RestartPolicy)
	}
	if lc := r.HostConfig.LogConfig; lc.Type != "none" || lc.Config["max-size"] != "1024" {
		t.Errorf("LogConfig: %+v", lc)
	}
	if r := Container(testSandbox(), nil); r.State.Health != nil || r.HostConfig.RestartPolicy.Name != "no" || r.HostConfig.LogConfig.Type != "k8s-file" {
		t.Errorf("defaults: %+v %+v %+v", r.State.Health, r.HostConfig.RestartPolicy, r.HostConfig.LogConfig)
	}

	// A damaged record: only what the directory says.
	sb = &sandbox.Sandbox{Dir: "/d"}
	sb.ID = "dead"
	sb.State = sandbox.State{Status: sandbox.StatusUnknown, Error: "reading config.json: EOF"}
	r = Container(sb, nil)
	if r.ID != "dead" || r.State.Error == "" || !r.State.Dead || r.Config != nil || r.Args == nil {
		t.Errorf("damaged: %+v", r)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Error(err)
	}
}

func TestImage(t *testing.T) {
	r := Image(testImage())
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"Id", r.ID, "sha256:2efe336638a1" + strings.Repeat("0", 52)},
		{"RepoTags", r.RepoTags, []string{"docker.io/library/web:1", "localhost/web:latest"}},
		{"RepoDigests", r.RepoDigests, []string{"docker.io/library/web@sha256:140a", "localhost/web@sha256:140a"}},
		{"Created", r.Created, "2026-01-02T02:04:05.0000006Z"},
		{"Config.Entrypoint", r.Config.Entrypoint, []string{"/entry"}},
		{"Config.Cmd", r.Config.Cmd, []string{"serve"}},
		{"Config.Labels", r.Config.Labels, map[string]string{"org": "x"}},
		{"Config.ExposedPorts", r.Config.ExposedPorts, map[string]struct{}{"80/tcp": {}}},
		{"Config.WorkingDir", r.Config.WorkingDir, "/srv"},
		{"Architecture", r.Architecture, "amd64"},
		{"Os", r.Os, "linux"},
		{"Size", r.Size, int64(2130110)},
		{"RootFS.Type", r.RootFS.Type, "layers"},
		{"RootFS.Layers", r.RootFS.Layers, []string{"sha256:aaa", "sha256:bbb"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	bare := Image(&index.Image{ID: "x"})
	if bare.RepoTags == nil || bare.RepoDigests == nil || bare.RootFS.Layers == nil {
		t.Errorf("an image without names: %+v", bare)
	}
}
