package dockerapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"usandbox/lifecycle"
)

func decodeCreate(t *testing.T, body string) *container.CreateRequest {
	t.Helper()
	var req container.CreateRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	return &req
}

// What the docker CLI 20.10 sends for docker run -p 8080:80 -v /d:/data:ro
// -e A=b -e UNSET --restart on-failure:2 -m 64m --cpus 0.5 busybox sh.
const cliCreate = `{"Hostname":"","User":"","AttachStdin":false,"Tty":false,"OpenStdin":false,
"Env":["A=b","UNSET"],"Cmd":["sh"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,
"Labels":{"k":"v"},"ExposedPorts":{"80/tcp":{}},
"HostConfig":{"Binds":["/d:/data:ro"],"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},"AutoRemove":false,"LogConfig":{"Type":"","Config":{}},
"CgroupnsMode":"","IpcMode":"","PidMode":"","Privileged":false,"Memory":67108864,"NanoCpus":500000000,
"MemorySwappiness":null,"OomKillDisable":false,"Isolation":""},
"NetworkingConfig":{"EndpointsConfig":{}}}`

func TestCreateOptions(t *testing.T) {
	o, err := createOptions("web", decodeCreate(t, cliCreate))
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "web" || o.ImageRef != "busybox" || strings.Join(o.Args, " ") != "sh" {
		t.Errorf("name, image, args: %q %q %q", o.Name, o.ImageRef, o.Args)
	}
	if strings.Join(o.Env, " ") != "A=b" {
		t.Errorf("env: %q (a bare name is one the client did not have)", o.Env)
	}
	if len(o.Ports) != 1 || o.Ports[0].HostPort != 8080 || o.Ports[0].Container != 80 {
		t.Errorf("ports: %+v", o.Ports)
	}
	if len(o.Volumes) != 1 || o.Volumes[0].Destination != "/data" {
		t.Errorf("volumes: %+v", o.Volumes)
	}
	if o.RestartPolicy != "on-failure" || o.RestartMax != 2 {
		t.Errorf("restart: %q %d", o.RestartPolicy, o.RestartMax)
	}
	if o.Limits.Memory != 64<<20 || o.Labels["k"] != "v" {
		t.Errorf("limits, labels: %+v %v", o.Limits, o.Labels)
	}
}

func TestCreateOptionsRefused(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{`{"Image":"b","HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"}}}`, "Sysctls"},
		{`{"Image":"b","HostConfig":{"PidMode":"host"}}`, "PidMode host"},
		{`{"Image":"b","HostConfig":{"Links":["db:db"]}}`, "Links"},
		{`{"Image":"b","HostConfig":{"CpuQuota":50000}}`, "CpuQuota"},
		{`{"Image":"b","HostConfig":{"Init":false}}`, "Init false"},
		{`{"Image":"b","HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-file":"3"}}}}`, "max-file"},
		{`{"Image":"b","HostConfig":{"SecurityOpt":["seccomp=/etc/p.json"]}}`, "SecurityOpt"},
		{`{"Image":"b","HostConfig":{"Mounts":[{"Type":"npipe","Target":"/x"}]}}`, "npipe"},
		{`{"Image":"b","Healthcheck":{"Test":["WHAT"]}}`, "Healthcheck.Test"},
		{`{"Cmd":["true"]}`, "no image"},
	} {
		_, err := createOptions("", decodeCreate(t, tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error naming %q", tt.body, err, tt.want)
		}
	}
}

func TestCreateOptionsMountsAndHealth(t *testing.T) {
	o, err := createOptions("", decodeCreate(t, `{"Image":"b","Entrypoint":["/bin/sh","-c"],
"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":2000000000,"Retries":5},
"HostConfig":{"Mounts":[{"Type":"volume","Source":"data","Target":"/data"},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576}}],
"Tmpfs":{"/run":"size=1m"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Entrypoint == nil || *o.Entrypoint != `["/bin/sh","-c"]` {
		t.Errorf("entrypoint: %v", o.Entrypoint)
	}
	if h := o.Healthcheck; h == nil || h.Interval != 2*time.Second || h.Retries != 5 || strings.Join(h.Test, " ") != "CMD-SHELL true" {
		t.Errorf("healthcheck: %+v", h)
	}
	var dests []string
	for _, m := range o.Volumes {
		dests = append(dests, m.Destination)
	}
	if strings.Join(dests, " ") != "/data /t /run" {
		t.Errorf("mounts: %v", dests)
	}
}

func TestAPITime(t *testing.T) {
	for in, want := range map[string]time.Time{"": {}, "0": {}, "10": time.Unix(10, 0), "10.5": time.Unix(10, 500000000)} {
		got, err := apiTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("apiTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := apiTime("yesterday"); err == nil {
		t.Error("apiTime(yesterday): no error")
	}
}

// TestPortBindings: docker's HostPort "" and "0" (testcontainers' way)
// both mean any free port, with or without a HostIP.
func TestPortBindings(t *testing.T) {
	for _, tt := range []struct {
		b    network.PortBinding
		want string
	}{
		{network.PortBinding{HostPort: "8081"}, ":8081:8080"},
		{network.PortBinding{}, ":0:8080"},
		{network.PortBinding{HostPort: "0"}, ":0:8080"},
		{network.PortBinding{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}, "127.0.0.1:0:8080"},
	} {
		var o lifecycle.CreateOptions
		hc := &container.HostConfig{PortBindings: network.PortMap{network.MustParsePort("8080/tcp"): {tt.b}}}
		if err := networkOptions(&o, &container.Config{}, hc, &container.CreateRequest{}); err != nil {
			t.Fatalf("%+v: %v", tt.b, err)
		}
		if len(o.Ports) != 1 {
			t.Fatalf("%+v: ports %+v", tt.b, o.Ports)
		}
		p := o.Ports[0]
		if got := fmt.Sprintf("%s:%d:%d", p.HostIP, p.HostPort, p.Container); got != tt.want || p.Proto != "tcp" {
			t.Errorf("%+v: %s/%s, want %s", tt.b, got, p.Proto, tt.want)
		}
	}
}

// TestCreateOptionsComposeVolumes: docker compose names a named volume's
// path in Config.Volumes and in HostConfig.Mounts: one mount, not two.
func TestCreateOptionsComposeVolumes(t *testing.T) {
	o, err := createOptions("", decodeCreate(t, `{"Image":"b","Volumes":{"/data":{},"/anon":{}},
"HostConfig":{"Mounts":[{"Type":"volume","Source":"p_data","Target":"/data"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var dests []string
	for _, m := range o.Volumes {
		dests = append(dests, m.Destination+"="+m.Source)
	}
	if len(o.Volumes) != 2 || o.Volumes[0].Destination != "/data" || o.Volumes[1].Destination != "/anon" {
		t.Fatalf("volumes: %v", dests)
	}
}

// TestNotYet: what usandbox's API does not do answers 501, saying what.
func TestNotYet(t *testing.T) {
	s := New(nil, "test")
	for _, path := range []string{"/v1.41/containers/x/update", "/v1.41/containers/x/stats"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotImplemented || !strings.Contains(rec.Body.String(), "does not implement") {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
}
