//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// imgOutTag is a tag no other test or run pushes.
func imgOutTag(*testing.T) string {
	return fmt.Sprintf("t%d", time.Now().UnixNano())
}

// imgOutID is the full ID of the image ref in the store.
func (s *store) imgOutID(ref string) string {
	s.t.Helper()
	out := s.ok("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		id, name, _ := strings.Cut(l, " ")
		if name == ref || strings.TrimPrefix(id, "sha256:") == ref {
			return strings.TrimPrefix(id, "sha256:")
		}
	}
	s.t.Fatalf("no image %s in:\n%s", ref, out)
	return ""
}

// assertNoImages: the store holds no image (a failed command left none).
func (s *store) assertNoImages() {
	s.t.Helper()
	if out := s.ok("images", "-q"); strings.TrimSpace(out) != "" {
		s.t.Fatalf("images left: %s", out)
	}
}

// assertDirEmpty: nothing was left in dir (no output, no temporary file).
func assertDirEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Fatalf("left in %s: %v", dir, names)
	}
}

// TestImgOutPushRegistry: an image pushed to the registry is pulled by a
// fresh store and runs; a second push sends no blob again.
func TestImgOutPushRegistry(t *testing.T) {
	s := withImages(t, false)
	dest := regRef("imgout/busybox:" + imgOutTag(t))
	r := s.run("push", "--tls-verify=false", "busybox", dest)
	if r.code != 0 || !strings.Contains(r.stderr, "Writing manifest to image destination") || r.stdout != "" {
		t.Fatalf("push: %+v", r)
	}
	r = s.run("push", "--tls-verify=false", "busybox", dest)
	if r.code != 0 || !strings.Contains(r.stderr, "skipped: already exists") {
		t.Fatalf("a second push sent the layer again: %+v", r)
	}
	fresh := newStore(t)
	fresh.ok("pull", "-q", "--tls-verify=false", dest)
	if got, want := fresh.imgOutID(dest), s.imgOutID("localhost/busybox:latest"); got != want {
		t.Fatalf("pulled back as %s, pushed %s", got, want)
	}
	if out := fresh.ok("run", "--rm", "--network", "none", dest, "echo", "pushed"); out != "pushed\n" {
		t.Fatalf("run of the pulled image: %q", out)
	}
	// --format v2s2: Docker's schema 2 manifest.
	v2 := regRef("imgout/busybox:" + imgOutTag(t))
	s.ok("push", "--tls-verify=false", "--format", "v2s2", "busybox", v2)
	if mt := registryManifest(t, v2).MediaType; mt != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Fatalf("push --format v2s2 wrote a %s manifest", mt)
	}
}

type regManifest struct {
	MediaType string `json:"mediaType"`
	Layers    []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	} `json:"layers"`
}

// registryManifest reads ref's manifest from the plain-HTTP test registry.
func registryManifest(t *testing.T, ref string) regManifest {
	t.Helper()
	host, rest, _ := strings.Cut(ref, "/")
	i := strings.LastIndex(rest, ":")
	req, err := http.NewRequest("GET", "http://"+host+"/v2/"+rest[:i]+"/manifests/"+rest[i+1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m regManifest
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&m) != nil {
		t.Fatalf("manifest of %s: %s", ref, resp.Status)
	}
	return m
}

// TestImgOutPushTransports: push to an OCI layout, an oci-archive, a
// docker-archive and a directory, each pulled back by a fresh store as
// the same image. An image whose layers are stored uncompressed (pulled
// from dir:, as commit makes them) is compressed on its way to a registry.
func TestImgOutPushTransports(t *testing.T) {
	s := withImages(t, false)
	id := s.imgOutID("localhost/busybox:latest")
	dir := t.TempDir()
	for _, dest := range []string{
		"oci:" + filepath.Join(dir, "layout") + ":v1",
		"oci-archive:" + filepath.Join(dir, "o.tar"),
		"docker-archive:" + filepath.Join(dir, "d.tar"),
		"dir:" + filepath.Join(dir, "dir"),
	} {
		s.ok("push", "-q", "busybox", dest)
		fresh := newStore(t)
		got := strings.TrimSpace(fresh.ok("pull", "-q", dest))
		if got != id {
			t.Fatalf("%s pulled back as %s, pushed %s", dest, got, id)
		}
	}
	// The docker-archive carries the image's name.
	fresh := newStore(t)
	fresh.ok("load", "-q", "-i", filepath.Join(dir, "d.tar"))
	fresh.imgOutID("localhost/busybox:latest")

	// dir: holds the layer uncompressed; pulled from there, the manifest
	// says application/vnd.oci.image.layer.v1.tar.
	un := newStore(t)
	un.ok("pull", "-q", "dir:"+filepath.Join(dir, "dir"))
	b, err := os.ReadFile(filepath.Join(dir, "dir", "manifest.json"))
	if err != nil || !strings.Contains(string(b), `"application/vnd.oci.image.layer.v1.tar"`) {
		t.Fatalf("dir: manifest is not of an uncompressed layer: %s %v", b, err)
	}
	dest := regRef("imgout/uncompressed:" + imgOutTag(t))
	un.ok("push", "-q", "--tls-verify=false", "localhost/dir:latest", dest)
	m := registryManifest(t, dest)
	if len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("the registry got %+v, want one gzip layer", m)
	}
	back := newStore(t)
	if got := strings.TrimSpace(back.ok("pull", "-q", "--tls-verify=false", dest)); got != id {
		t.Fatalf("the compressed push pulled back as %s, want %s", got, id)
	}
	if out := back.ok("run", "--rm", "--network", "none", dest, "echo", "ok"); out != "ok\n" {
		t.Fatalf("run: %q", out)
	}
}

// TestImgOutSaveLoad: save and load round trips keep the image ID and
// names, from a file and from stdin, in both formats, several images in
// one docker-archive.
func TestImgOutSaveLoad(t *testing.T) {
	s := withImages(t, true)
	id := s.imgOutID("localhost/busybox:latest")
	debian := s.imgOutID("localhost/debian:bookworm")
	dir := t.TempDir()
	d := filepath.Join(dir, "d.tar")
	s.ok("save", "-q", "-o", d, "busybox", "localhost/debian:bookworm")
	o := filepath.Join(dir, "o.tar")
	s.ok("save", "-q", "--format", "oci-archive", "-o", o, "busybox")

	fresh := newStore(t)
	out := fresh.ok("load", "-q", "-i", d)
	if out != "Loaded image: localhost/busybox:latest\nLoaded image: localhost/debian:bookworm\n" {
		t.Fatalf("load: %q", out)
	}
	if got := fresh.imgOutID("localhost/busybox:latest"); got != id {
		t.Fatalf("loaded as %s, saved %s", got, id)
	}
	if got := fresh.imgOutID("localhost/debian:bookworm"); got != debian {
		t.Fatalf("loaded as %s, saved %s", got, debian)
	}
	if out := fresh.ok("run", "--rm", "--network", "none", "localhost/debian:bookworm", "cat", "/etc/debian_version"); !strings.HasPrefix(out, "12") {
		t.Fatalf("run of the loaded debian: %q", out)
	}
	fresh2 := newStore(t)
	c := fresh2.cmd("load")
	f, err := os.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.Stdin = f
	r, err := capture(c)
	if err != nil || r.code != 0 || r.stdout != "Loaded image: localhost/busybox:latest\n" {
		t.Fatalf("load from stdin: %+v %v", r, err)
	}
	if got := fresh2.imgOutID("localhost/busybox:latest"); got != id {
		t.Fatalf("loaded from stdin as %s, saved %s", got, id)
	}
	// save to stdout.
	c = s.cmd("save", "-q", "busybox")
	sf := filepath.Join(dir, "stdout.tar")
	w, err := os.Create(sf)
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout = w
	err = c.Run()
	w.Close()
	if err != nil {
		t.Fatalf("save to stdout: %v", err)
	}
	fresh3 := newStore(t)
	fresh3.ok("load", "-q", "-i", sf)
	if got := fresh3.imgOutID("localhost/busybox:latest"); got != id {
		t.Fatalf("saved to stdout and loaded as %s, want %s", got, id)
	}

	// Bad input: one line, 125, nothing left.
	bad := t.TempDir()
	s.fails(125, "no such image", "save", "-o", filepath.Join(bad, "x.tar"), "nosuch")
	s.fails(125, "one image", "save", "--format", "oci-archive", "-o", filepath.Join(bad, "x.tar"), "busybox", "localhost/debian:bookworm")
	s.fails(125, "unknown --format", "save", "--format", "tar", "-o", filepath.Join(bad, "x.tar"), "busybox")
	assertDirEmpty(t, bad)
	s.fails(125, "cannot be added to", "save", "-o", d, "busybox")
	junk := filepath.Join(bad, "junk.tar")
	if err := os.WriteFile(junk, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := newStore(t)
	empty.fails(125, "it is neither a docker-archive", "load", "-i", junk)
	empty.fails(125, "no such file", "load", "-i", filepath.Join(bad, "nosuch.tar"))
	empty.assertNoImages()
	assertDirEmpty(t, filepath.Join(empty.root, "tmp"))
}

// TestImgOutPushBadInput: each mistake is one line and exit 125, and
// leaves no file behind.
func TestImgOutPushBadInput(t *testing.T) {
	s := withImages(t, false)
	id := s.imgOutID("localhost/busybox:latest")
	dir := t.TempDir()
	s.fails(125, "no such image", "push", "nosuch", "oci:"+filepath.Join(dir, "x"))
	s.fails(125, "names no registry", "push", id[:12])
	s.fails(125, "unknown transport", "push", "busybox", "nosuch:/x")
	s.fails(125, "unknown --format", "push", "--format", "v1", "busybox", "oci:"+filepath.Join(dir, "x"))
	s.fails(125, "registry unreachable", "push", "--tls-verify=false", "busybox", "127.0.0.1:1/x")
	s.fails(125, "plain http", "push", "busybox", regRef("imgout/x"))
	assertDirEmpty(t, dir)
}

// authCmd is usandbox with its auth file in xdg (the default place,
// $XDG_RUNTIME_DIR/containers/auth.json).
func (s *store) authRun(xdg string, args ...string) result {
	s.t.Helper()
	c := s.cmd(args...)
	c.Env = append(c.Env, "XDG_RUNTIME_DIR="+xdg, "HOME="+xdg)
	r, err := capture(c)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// TestImgOutLogin: login checks the credentials with the registry
// before it saves them; pull and push use them; logout removes them.
func TestImgOutLogin(t *testing.T) {
	if env.regAuth == "" {
		t.Skip("hack/registry.sh started no registry with auth")
	}
	s := withImages(t, false)
	xdg := t.TempDir()
	authFile := filepath.Join(xdg, "containers", "auth.json")
	img := env.regAuth + "/busybox:latest"

	// Without a login: one clear line.
	r := s.authRun(xdg, "pull", "--tls-verify=false", img)
	if r.code != 125 {
		t.Fatalf("pull without login: %+v", r)
	}
	assertOneErrorLine(t, r.stderr, "usandbox login")

	r = s.authRun(xdg, "login", "--tls-verify=false", "-u", env.regUser, "-p", "wrong", env.regAuth)
	if r.code != 125 {
		t.Fatalf("login with a bad password: %+v", r)
	}
	assertOneErrorLine(t, r.stderr, "invalid username/password")
	if _, err := os.Stat(authFile); err == nil {
		t.Fatalf("a refused login saved %s", authFile)
	}

	c := s.cmd("login", "--tls-verify=false", "-u", env.regUser, "--password-stdin", env.regAuth)
	c.Env = append(c.Env, "XDG_RUNTIME_DIR="+xdg, "HOME="+xdg)
	c.Stdin = strings.NewReader(env.regPassword + "\n")
	r, err := capture(c)
	if err != nil || r.code != 0 || r.stdout != "Login Succeeded!\n" {
		t.Fatalf("login: %+v %v", r, err)
	}
	if b, err := os.ReadFile(authFile); err != nil || !strings.Contains(string(b), env.regAuth) {
		t.Fatalf("auth file after login: %s %v", b, err)
	}
	if r := s.authRun(xdg, "login", "--get-login", env.regAuth); r.stdout != env.regUser+"\n" {
		t.Fatalf("login --get-login: %+v", r)
	}

	r = s.authRun(xdg, "pull", "-q", "--tls-verify=false", img)
	if r.code != 0 {
		t.Fatalf("pull after login: %+v", r)
	}
	dest := env.regAuth + "/imgout/pushed:" + imgOutTag(t)
	if r := s.authRun(xdg, "push", "-q", "--tls-verify=false", "localhost/busybox:latest", dest); r.code != 0 {
		t.Fatalf("push after login: %+v", r)
	}
	if r := s.authRun(xdg, "logout", env.regAuth); r.code != 0 || r.stdout != "Removed login credentials for "+env.regAuth+"\n" {
		t.Fatalf("logout: %+v", r)
	}
	r = s.authRun(xdg, "logout", env.regAuth)
	if r.code != 125 {
		t.Fatalf("a second logout: %+v", r)
	}
	assertOneErrorLine(t, r.stderr, "not logged into "+env.regAuth)

	// --creds, without a login; a fresh store pulls with --authfile.
	if r := s.authRun(xdg, "push", "-q", "--tls-verify=false", "--creds", env.regUser+":"+env.regPassword, "localhost/busybox:latest", dest); r.code != 0 {
		t.Fatalf("push --creds: %+v", r)
	}
	other := filepath.Join(t.TempDir(), "auth.json")
	if r := s.authRun(xdg, "login", "--authfile", other, "--tls-verify=false", "-u", env.regUser, "-p", env.regPassword, env.regAuth); r.code != 0 {
		t.Fatalf("login --authfile: %+v", r)
	}
	fresh := newStore(t)
	if r := fresh.authRun(xdg, "pull", "-q", "--tls-verify=false", "--authfile", other, dest); r.code != 0 {
		t.Fatalf("pull --authfile: %+v", r)
	}
	if r := s.authRun(xdg, "logout", "--all"); r.code != 0 || r.stdout != "Removed login credentials for all registries\n" {
		t.Fatalf("logout --all: %+v", r)
	}
}

// TestImgOutHistory: history from the image's config, in podman's
// columns and JSON.
func TestImgOutHistory(t *testing.T) {
	s := withImages(t, false)
	id := s.imgOutID("localhost/busybox:latest")
	out := s.ok("history", "busybox")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID CREATED CREATED BY SIZE COMMENT" ||
		!strings.HasPrefix(lines[1], id[:12]+" ") || !strings.Contains(lines[1], "mkimage") {
		t.Fatalf("history:\n%s", out)
	}
	var steps []struct {
		ID        string `json:"id"`
		CreatedBy string `json:"CreatedBy"`
		Size      int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(s.ok("history", "--format", "json", "busybox")), &steps); err != nil || len(steps) != 1 || steps[0].ID != id || steps[0].Size <= 0 {
		t.Fatalf("history --format json: %+v %v", steps, err)
	}
	if out := s.ok("image", "history", "-q", "--no-trunc", "busybox"); out != id+"\n" {
		t.Fatalf("image history -q --no-trunc: %q", out)
	}
	s.fails(125, "no such image", "history", "nosuch")
}

// dockerWith runs the docker CLI with its own config directory (its
// login's credentials).
func dockerWith(t *testing.T, bin, host, config string, stdin *os.File, args ...string) result {
	t.Helper()
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+config)
	if stdin != nil {
		c.Stdin = stdin
	}
	r, err := capture(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestImgOutDockerCLI: docker login, push, save and load through the
// service's socket.
func TestImgOutDockerCLI(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	id := s.imgOutID("localhost/busybox:latest")
	host, _ := s.service(t, "0")
	cfg := t.TempDir()

	dest := regRef("imgout/docker:" + imgOutTag(t))
	if r := dockerWith(t, bin, host, cfg, nil, "tag", "localhost/busybox:latest", dest); r.code != 0 {
		t.Fatalf("docker tag: %+v", r)
	}
	r := dockerWith(t, bin, host, cfg, nil, "push", dest)
	if r.code != 0 || !strings.Contains(r.stdout, "digest: sha256:") {
		t.Fatalf("docker push: %+v", r)
	}
	fresh := newStore(t)
	if got := strings.TrimSpace(fresh.ok("pull", "-q", "--tls-verify=false", dest)); got != id {
		t.Fatalf("docker push's image pulled back as %s, want %s", got, id)
	}

	tar := filepath.Join(t.TempDir(), "d.tar")
	if r := dockerWith(t, bin, host, cfg, nil, "save", "-o", tar, "localhost/busybox:latest"); r.code != 0 {
		t.Fatalf("docker save: %+v", r)
	}
	if r := dockerWith(t, bin, host, cfg, nil, "rmi", dest, "localhost/busybox:latest"); r.code != 0 {
		t.Fatalf("docker rmi: %+v", r)
	}
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r = dockerWith(t, bin, host, cfg, f, "load")
	if r.code != 0 || r.stdout != "Loaded image: localhost/busybox:latest\n" {
		t.Fatalf("docker load: %+v", r)
	}
	if got := s.imgOutID("localhost/busybox:latest"); got != id {
		t.Fatalf("docker load stored %s, saved %s", got, id)
	}
	if r := dockerWith(t, bin, host, cfg, nil, "save", "-o", filepath.Join(t.TempDir(), "x.tar"), "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "No such image: nosuch") {
		t.Fatalf("docker save of an unknown image: %+v", r)
	}

	if env.regAuth == "" {
		return
	}
	r = dockerWith(t, bin, host, cfg, nil, "login", "-u", env.regUser, "-p", "wrong", env.regAuth)
	if r.code != 1 || !strings.Contains(r.stderr, "invalid username/password") {
		t.Fatalf("docker login with a bad password: %+v", r)
	}
	r = dockerWith(t, bin, host, cfg, nil, "login", "-u", env.regUser, "-p", env.regPassword, env.regAuth)
	if r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
		t.Fatalf("docker login: %+v", r)
	}
	adest := env.regAuth + "/imgout/docker:" + imgOutTag(t)
	dockerWith(t, bin, host, cfg, nil, "tag", "localhost/busybox:latest", adest)
	if r := dockerWith(t, bin, host, cfg, nil, "push", adest); r.code != 0 || !strings.Contains(r.stdout, "digest: sha256:") {
		t.Fatalf("docker push with docker login's credentials: %+v", r)
	}
	dockerWith(t, bin, host, cfg, nil, "rmi", adest)
	if r := dockerWith(t, bin, host, cfg, nil, "pull", adest); r.code != 0 {
		t.Fatalf("docker pull with docker login's credentials: %+v", r)
	}
}
