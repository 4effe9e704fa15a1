package dockerapi

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestImagePushSaveLoadAuth: push, save, load and auth in docker's shapes,
// with the credentials of X-Registry-Auth reaching usandbox-image on its
// stdin, never its arguments.
func TestImagePushSaveLoadAuth(t *testing.T) {
	layer := "sha256:" + strings.Repeat("a", 64)
	s, _ := testServer(t, `"push --json --auth-stdin --tls-verify=false -- localhost/busybox:latest") read creds; [ "$creds" = '{"username":"u","password":"p"}' ] || { echo "creds: $creds" >&2; exit 125; }
  echo '{"kind":"start","layer":"`+layer+`","size":10}'; echo '{"kind":"progress","layer":"`+layer+`","current":5}'; echo '{"kind":"done","layer":"`+layer+`"}'; echo '{"kind":"image","digest":"sha256:`+strings.Repeat("e", 64)+`","size":527,"tag":"latest"}';;
"push --json --auth-stdin --tls-verify=false -- localhost/busybox:v2") echo '{"kind":"error","message":"pushing: authentication required","errorKind":"unauthorized"}'; exit 125;;
"save --quiet --format docker-archive -- localhost/busybox") printf 'TARDATA';;
"load --json") body=$(cat); [ "$body" = TARBODY ] && echo '{"kind":"loaded","names":["localhost/busybox:latest","sha256:`+testImageID+`"]}' || { echo '{"kind":"error","message":"not an archive","errorKind":"invalid"}'; exit 125; };;
"login --json --check --auth-stdin --tls-verify=false -- 127.0.0.1:5000") read creds; [ "$creds" = '{"username":"u","password":"p"}' ] || { echo '{"kind":"error","message":"logging into \"127.0.0.1:5000\": invalid username/password (unauthorized)","errorKind":"unauthorized"}'; exit 125; };;
*) echo "unexpected: $*" >&2; exit 125;;`)

	r := httptest.NewRequest("POST", "/v1.41/images/localhost/busybox/push?tag=latest", nil)
	r.Header.Set("X-Registry-Auth", base64.URLEncoding.EncodeToString([]byte(`{"username":"u","password":"p","serveraddress":"localhost"}`)))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	for _, want := range []string{`"status":"The push refers to repository [localhost/busybox]"`, `"status":"Preparing"`, `"status":"Pushing","progressDetail":{"current":5,"total":10}`, `"status":"Pushed"`,
		`"status":"latest: digest: sha256:` + strings.Repeat("e", 64) + ` size: 527"`, `"aux":{"Digest":"sha256:` + strings.Repeat("e", 64) + `","Size":527,"Tag":"latest"}`} {
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("push: %d, want %s in\n%s", w.Code, want, w.Body.String())
		}
	}
	wantStatus(t, do(t, s, "POST", "/images/localhost/busybox/push?tag=nosuch", ""), 404, "No such image: localhost/busybox:nosuch")

	wantStatus(t, do(t, s, "GET", "/images/localhost/busybox/get", ""), 200, "TARDATA")
	wantStatus(t, do(t, s, "GET", "/images/get?names=localhost/busybox", ""), 200, "TARDATA")
	wantStatus(t, do(t, s, "GET", "/images/get?names=nosuch", ""), 404, "No such image: nosuch")

	wantStatus(t, do(t, s, "POST", "/images/load", "TARBODY"), 200,
		`{"stream":"Loaded image: localhost/busybox:latest\n"}`+"\n"+`{"stream":"Loaded image ID: sha256:`+testImageID+`\n"}`)
	wantStatus(t, do(t, s, "POST", "/images/load", "junk"), 400, "not an archive")

	wantStatus(t, do(t, s, "POST", "/auth", `{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}`), 200, `{"IdentityToken":"","Status":"Login Succeeded"}`)
	wantStatus(t, do(t, s, "POST", "/auth", `{"username":"u","password":"bad","serveraddress":"http://127.0.0.1:5000/"}`), 401, "invalid username/password")
}
