package dockerapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"usandbox/lifecycle"
	"usandbox/storage/index"
)

// noHost is a lifecycle.Host that runs nothing: the networks and volumes
// handlers need only RemoveDir.
type noHost struct{}

var errNoHost = errors.New("no host in this test")

func (noHost) Run(index.Paths, *lifecycle.Sandbox, lifecycle.Streams) (int, error) {
	return 0, errNoHost
}
func (noHost) Start(index.Paths, *lifecycle.Sandbox) error { return errNoHost }
func (noHost) Exec(index.Paths, *lifecycle.Sandbox, lifecycle.ExecOptions) (int, error) {
	return 0, errNoHost
}
func (noHost) Signal(*lifecycle.Sandbox, lifecycle.Signal) error { return errNoHost }
func (noHost) KillAll(*lifecycle.Sandbox)                        {}
func (noHost) RemoveDir(dir string) error                        { return os.RemoveAll(dir) }

const testImageID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// testServer is a Server on a new store holding one image, whose
// usandbox-image is a script answering as tool says (a shell case body
// over "$*", the arguments after the store's).
func testServer(t *testing.T, tool string) (*Server, index.Paths) {
	t.Helper()
	dir := t.TempDir()
	p := index.Paths{Root: filepath.Join(dir, "root"), RunRoot: filepath.Join(dir, "run")}
	for _, d := range []string{p.Root, p.RunRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ix := &index.Index{Driver: "overlay", Images: []*index.Image{{ID: testImageID, Names: []string{"localhost/busybox:latest"}, Digest: "sha256:" + strings.Repeat("d", 64), Size: 1000}}}
	if err := index.Write(p, ix); err != nil {
		t.Fatal(err)
	}
	e := lifecycle.NewWithHost(p, noHost{})
	e.ImageTool = filepath.Join(dir, "usandbox-image")
	script := "#!/bin/sh\nshift 4\ncase \"$*\" in\n" + tool + "\nesac\n"
	if err := os.WriteFile(e.ImageTool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return New(e, "test"), p
}

func do(t *testing.T, s *Server, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	if w.Code != status || !strings.Contains(w.Body.String(), body) {
		t.Fatalf("got %d %s, want %d with %q", w.Code, w.Body.String(), status, body)
	}
}

// TestImageCreateStream: a pull's events become docker's messages, the
// header waits for the pull to begin (an unknown image is a 404), and a
// failure after is the stream's last line.
func TestImageCreateStream(t *testing.T) {
	layer := "sha256:" + strings.Repeat("a", 64)
	s, _ := testServer(t, `*nosuch*) echo '{"kind":"note","message":"Trying to pull"}'; echo '{"kind":"error","message":"pulling x: manifest unknown (no such image: check the name and tag)","errorKind":"notfound"}'; exit 125;;
*broken*) echo '{"kind":"start","layer":"`+layer+`","size":10}'; echo '{"kind":"error","message":"layer: digest mismatch"}'; exit 125;;
"pull --json --auth-stdin --tls-verify=false -- 127.0.0.1:5000/busybox:latest") echo '{"kind":"start","layer":"`+layer+`","size":10}'; echo '{"kind":"progress","layer":"`+layer+`","current":5}'; echo '{"kind":"done","layer":"`+layer+`"}'; echo '{"kind":"finish","message":"Writing manifest"}'; echo '{"kind":"image","id":"`+testImageID+`"}';;
*) echo "unexpected: $*" >&2; exit 125;;`)
	w := do(t, s, "POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/busybox&tag=latest", "")
	if w.Code != 200 {
		t.Fatalf("pull: %d %s", w.Code, w.Body.String())
	}
	var msgs []map[string]any
	dec := json.NewDecoder(w.Body)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m["status"].(string)+"|"+str(m["id"]))
	}
	want := []string{"Pulling from busybox|latest", "Pulling fs layer|aaaaaaaaaaaa", "Downloading|aaaaaaaaaaaa", "Download complete|aaaaaaaaaaaa",
		"Pull complete|aaaaaaaaaaaa", "Digest: sha256:" + strings.Repeat("d", 64) + "|", "Status: Downloaded newer image for 127.0.0.1:5000/busybox:latest|"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := msgs[2]["progressDetail"].(map[string]any); d["current"].(float64) != 5 || d["total"].(float64) != 10 {
		t.Errorf("Downloading's progressDetail: %v", d)
	}

	w = do(t, s, "POST", "/images/create?fromImage=nosuch&tag=latest", "")
	wantStatus(t, w, 404, `{"message":"pulling x: manifest unknown (no such image: check the name and tag)"}`)

	w = do(t, s, "POST", "/images/create?fromImage=broken", "")
	lines := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
	if w.Code != 200 || lines[len(lines)-1] != `{"errorDetail":{"message":"layer: digest mismatch"},"error":"layer: digest mismatch"}` {
		t.Fatalf("a pull failing midway: %d %s", w.Code, w.Body.String())
	}

	wantStatus(t, do(t, s, "POST", "/images/create?fromSrc=http://example.com/x.tar", ""), 400, "fromSrc=-")
	wantStatus(t, do(t, s, "POST", "/images/create?fromImage=busybox&platform=windows/arm64", ""), 400, "platform")
	r := httptest.NewRequest("POST", "/images/create?fromImage=busybox", nil)
	r.Header.Set("X-Registry-Auth", "eyJyZWdpc3RyeXRva2VuIjoieCJ9") // {"registrytoken":"x"}
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	wantStatus(t, w, 400, "registry token")
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestImageRemoveTagPrune: rmi's, tag's and prune's answers in docker's
// shapes and statuses.
func TestImageRemoveTagPrune(t *testing.T) {
	s, _ := testServer(t, `"rmi --json -- localhost/busybox:latest") echo '{"kind":"removed","untagged":["localhost/busybox:latest"],"deleted":"sha256:`+testImageID+`"}';;
"rmi --json -- busybox") echo '{"kind":"error","message":"image is in use by sandbox x","errorKind":"conflict"}'; exit 2;;
"untag --json -- `+testImageID+`") ;;
"tag --json -- busybox localhost/new:v1") ;;
"tag --json -- busybox Bad!") echo '{"kind":"error","message":"invalid image name","errorKind":"invalid"}'; exit 125;;
"image-prune --json --all --filter label=a=b") echo '{"kind":"pruned","ids":["`+testImageID+`"],"freed":1000}';;
*) echo "unexpected: $*" >&2; exit 125;;`)
	wantStatus(t, do(t, s, "DELETE", "/images/localhost/busybox:latest", ""), 200,
		`[{"Untagged":"localhost/busybox:latest"},{"Deleted":"sha256:`+testImageID+`"}]`)
	wantStatus(t, do(t, s, "DELETE", "/images/busybox", ""), 409, "image is in use by sandbox x")
	wantStatus(t, do(t, s, "DELETE", "/images/busybox?force=1", ""), 200, `[{"Untagged":"localhost/busybox:latest"}]`)
	wantStatus(t, do(t, s, "DELETE", "/images/nosuch", ""), 404, `{"message":"No such image: nosuch"}`)

	wantStatus(t, do(t, s, "POST", "/images/busybox/tag?repo=localhost/new&tag=v1", ""), 201, "")
	wantStatus(t, do(t, s, "POST", "/images/busybox/tag?repo=Bad!", ""), 400, "invalid image name")
	wantStatus(t, do(t, s, "POST", "/images/nosuch/tag?repo=x", ""), 404, "No such image: nosuch")
	wantStatus(t, do(t, s, "POST", "/images/busybox/tag", ""), 400, "repo is required")

	wantStatus(t, do(t, s, "POST", `/images/prune?filters={"dangling":["false"],"label":["a=b"]}`, ""), 200,
		`{"ImagesDeleted":[{"Deleted":"sha256:`+testImageID+`"}],"SpaceReclaimed":1000}`)
	wantStatus(t, do(t, s, "POST", `/images/prune?filters={"until":["24h"]}`, ""), 400, "dangling and label")
}

// TestNetworksVolumes: the handlers over a real store (no sandbox).
func TestNetworksVolumes(t *testing.T) {
	s, p := testServer(t, "")
	body := `{"Name":"net1","CheckDuplicate":true,"Driver":"bridge","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.124.0.0/24","Gateway":"10.124.0.1"}]},"Options":{},"Labels":{"a":"b"}}`
	w := do(t, s, "POST", "/networks/create", body)
	wantStatus(t, w, 201, `"Id":"`)
	wantStatus(t, do(t, s, "POST", "/networks/create", body), 409, "network with name net1 already exists")
	for _, bad := range []struct{ body, want string }{
		{`{"Name":"n","Driver":"macvlan"}`, "bridge driver"},
		{`{"Name":"n","EnableIPv6":true}`, "IPv6"},
		{`{"Name":"n","Ingress":true}`, "swarm"},
		{`{"Name":"n","IPAM":{"Driver":"other"}}`, "IPAM driver"},
		{`{"Name":"n","IPAM":{"Config":[{"Subnet":"10.125.0.0/24","IPRange":"10.125.0.0/25"}]}}`, "IPRange"},
		{`{"Name":"n","Frobnicate":true}`, "unknown field"},
		{`{"Driver":"bridge"}`, "needs a name"},
	} {
		wantStatus(t, do(t, s, "POST", "/networks/create", bad.body), 400, bad.want)
	}
	w = do(t, s, "GET", "/networks/net1", "")
	wantStatus(t, w, 200, `"Subnet":"10.124.0.0/24","Gateway":"10.124.0.1"`)
	if !strings.Contains(w.Body.String(), `"Labels":{"a":"b"}`) || !strings.Contains(w.Body.String(), `"Scope":"local"`) {
		t.Errorf("network inspect: %s", w.Body.String())
	}
	wantStatus(t, do(t, s, "GET", `/networks?filters={"label":["a=b"]}`, ""), 200, `"Name":"net1"`)
	if w := do(t, s, "GET", `/networks?filters={"label":["a=b"]}`, ""); strings.Contains(w.Body.String(), `"Name":"bridge"`) {
		t.Errorf("the label filter let the default network through: %s", w.Body.String())
	}
	wantStatus(t, do(t, s, "GET", "/networks/nosuch", ""), 404, `{"message":"network nosuch not found"}`)
	wantStatus(t, do(t, s, "POST", "/networks/net1/connect", `{"Container":"x","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.124.0.9"}}}`), 400, "Aliases only")
	wantStatus(t, do(t, s, "POST", "/networks/net1/connect", `{"Container":"nosuch","EndpointConfig":{"Aliases":["a"]}}`), 404, "No such container: nosuch")
	wantStatus(t, do(t, s, "POST", "/networks/nosuch/connect", `{"Container":"x"}`), 404, "network nosuch not found")
	wantStatus(t, do(t, s, "DELETE", "/networks/bridge", ""), 403, "pre-defined")
	wantStatus(t, do(t, s, "POST", `/networks/prune?filters={"until":["1h"]}`, ""), 400, "label only")
	wantStatus(t, do(t, s, "POST", `/networks/prune?filters={"label":["a=b","c"]}`, ""), 200, `{"NetworksDeleted":[]}`)
	wantStatus(t, do(t, s, "POST", `/networks/prune?filters={"label":["a=b"]}`, ""), 200, `{"NetworksDeleted":["net1"]}`)
	wantStatus(t, do(t, s, "DELETE", "/networks/net1", ""), 404, "network net1 not found")

	wantStatus(t, do(t, s, "POST", "/volumes/create", `{"Name":"vol1","Driver":"local","DriverOpts":{},"Labels":{"x":"y"}}`), 201, `"Name":"vol1"`)
	wantStatus(t, do(t, s, "POST", "/volumes/create", `{"Name":"vol1"}`), 409, "")
	wantStatus(t, do(t, s, "POST", "/volumes/create", `{"Name":"v2","DriverOpts":{"type":"tmpfs","o":"size=1m"}}`), 400, "no driver options (got o, type)")
	wantStatus(t, do(t, s, "POST", "/volumes/create", `{"Name":"v2","Driver":"nfs"}`), 400, "local volume driver")
	wantStatus(t, do(t, s, "POST", "/volumes/create", `{"Name":"../x"}`), 400, "")
	wantStatus(t, do(t, s, "GET", `/volumes?filters={"label":["x=y"]}`, ""), 200, `"Labels":{"x":"y"}`)
	wantStatus(t, do(t, s, "GET", `/volumes?filters={"label":["x=z"]}`, ""), 200, `{"Volumes":[],"Warnings":[]}`)
	wantStatus(t, do(t, s, "GET", "/volumes/vol1", ""), 200, `"Driver":"local"`)
	wantStatus(t, do(t, s, "GET", "/volumes/nosuch", ""), 404, "get nosuch: no such volume")
	wantStatus(t, do(t, s, "DELETE", "/volumes/nosuch", ""), 404, "no such volume")
	wantStatus(t, do(t, s, "DELETE", "/volumes/nosuch?force=1", ""), 204, "")
	wantStatus(t, do(t, s, "DELETE", "/volumes/vol1", ""), 204, "")
	wantStatus(t, do(t, s, "POST", "/volumes/create", `{"Name":"vol2"}`), 201, "")
	wantStatus(t, do(t, s, "POST", "/volumes/create", `{"Name":"vol3","Labels":{"keep":"no"}}`), 201, "")
	wantStatus(t, do(t, s, "POST", `/volumes/prune?filters={"label":["keep=no"]}`, ""), 200, `{"VolumesDeleted":["vol3"],"SpaceReclaimed":0}`)
	wantStatus(t, do(t, s, "POST", `/volumes/prune?filters={"dangling":["true"]}`, ""), 400, "label only")
	wantStatus(t, do(t, s, "POST", "/volumes/prune", ""), 200, `{"VolumesDeleted":["vol2"],"SpaceReclaimed":0}`)
	if ents, _ := os.ReadDir(filepath.Join(p.Root, "volumes")); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left in volumes/: %v", names)
	}

	w = do(t, s, "GET", "/system/df", "")
	wantStatus(t, w, 200, `"LayersSize":1000`)
	var df struct {
		Images []struct {
			ID          string `json:"Id"`
			Size        int64
			VirtualSize int64
		}
		Containers, Volumes, BuildCache []any
	}
	if err := json.Unmarshal(w.Body.Bytes(), &df); err != nil || len(df.Images) != 1 || df.Images[0].VirtualSize != 1000 || df.Containers == nil || df.Volumes == nil || df.BuildCache == nil {
		t.Errorf("system df: %s (%v)", w.Body.String(), err)
	}
	_ = http.StatusOK
}

// TestImageAmbiguous: a prefix of two images' IDs is the client's
// mistake (400), not the service's.
func TestImageAmbiguous(t *testing.T) {
	s, p := testServer(t, "")
	ix, err := index.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	ix.Images = append(ix.Images, &index.Image{ID: "0123" + strings.Repeat("f", 60)})
	if err := index.Write(p, ix); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, do(t, s, "DELETE", "/images/0123", ""), 400, "")
	wantStatus(t, do(t, s, "POST", "/images/0123/tag?repo=x", ""), 400, "")
}
