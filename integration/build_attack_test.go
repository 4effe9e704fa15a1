//go:build integration

package integration

// Attacks on build and commit by a hostile Dockerfile, context, base
// image or sandbox: each test is one attack, and what it must not reach.

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildAttackRunNetwork: a Dockerfile's RUN --network= cannot give
// itself more network than the user gave the build: the host's network
// namespace (its loopback services and abstract sockets), another
// sandbox's, or slirp4netns's host loopback. none and default are its to
// ask for; host only when the user built with --network host (docker
// wants the network.host entitlement).
func TestBuildAttackRunNetwork(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	s.ok("run", "-d", "--name", "victim", "--network", "none", "busybox", "sleep", "60")
	defer s.run("rm", "-f", "victim")
	for _, n := range []string{"host", "container:victim", "slirp4netns:allow_host_loopback=true", "pasta"} {
		t.Run(n, func(t *testing.T) {
			ctx := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --network=" + n + " readlink /proc/self/ns/net\n"})
			r := s.run("build", "--network", "none", "-t", "netattack", ctx)
			if r.code != 125 {
				t.Fatalf("RUN --network=%s: exit %d, want 125 (refused)\n%s", n, r.code, r.stderr)
			}
			assertOneErrorLine(t, r.stderr, "--network="+n)
			if strings.Contains(s.ok("images", "-a"), "netattack") {
				t.Errorf("an image was made")
			}
		})
	}
	for _, c := range []struct{ dockerfile, flag string }{
		{"RUN --network=none true", "none"},
		{"RUN --network=default true", "none"},
		{"RUN --network=host true", "host"},
	} {
		ctx := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\n" + c.dockerfile + "\n"})
		if r := s.run("build", "--network", c.flag, ctx); r.code != 0 {
			t.Errorf("%s with build --network %s: exit %d\n%s", c.dockerfile, c.flag, r.code, r.stderr)
		}
	}
	if got := s.ok("ps", "-a", "--format", "{{.Names}}"); got != "victim\n" {
		t.Errorf("sandboxes left: %q", got)
	}
}

// TestBuildAttackAddChecksum: ADD --checksum pins what a URL must hold;
// a download that differs is refused, not added. docker refuses the flag
// for a source that is not a URL, as the context has no fixed content.
func TestBuildAttackAddChecksum(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	payload := "tampered payload\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, payload) }))
	defer srv.Close()
	sum := sha256.Sum256([]byte(payload))
	right := "sha256:" + hex.EncodeToString(sum[:])
	wrong := "sha256:" + strings.Repeat("0", 64)
	ctx := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" + wrong + " " + srv.URL + "/f /f\n"})
	r := s.run("build", "--network", "none", "-t", "sumattack", ctx)
	if r.code != 125 {
		t.Fatalf("ADD of a download with another checksum: exit %d, want 125\n%s", r.code, r.stderr)
	}
	assertOneErrorLine(t, r.stderr, "checksum")
	if strings.Contains(s.ok("images", "-a"), "sumattack") {
		t.Errorf("an image was made")
	}
	ctx = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" + right + " " + srv.URL + "/f /f\n"})
	if r := s.run("build", "--network", "none", "-t", "sumok", ctx); r.code != 0 {
		t.Fatalf("ADD with the right checksum: exit %d\n%s", r.code, r.stderr)
	}
	if got := s.ok("run", "--rm", "--network", "none", "sumok", "cat", "/f"); got != payload {
		t.Errorf("the download: %q", got)
	}
	ctx = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" + wrong + " f.txt /f\n", "f.txt": "x\n"})
	r = s.run("build", "--network", "none", "-t", "sumattack", ctx)
	if r.code != 125 {
		t.Fatalf("ADD --checksum of a context file: exit %d, want 125\n%s", r.code, r.stderr)
	}
	assertOneErrorLine(t, r.stderr, "checksum")
	s.assertClean()
}

// TestBuildAttackCopyFromExcludeCache: a COPY --from with --exclude is
// another step than the same COPY without: the layer cache must not hand
// back the layer with the excluded file.
func TestBuildAttackCopyFromExcludeCache(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	stage := "FROM busybox AS files\nRUN mkdir /d && echo a > /d/a && echo b > /d/b\nFROM busybox\n"
	ctx := buildContext(t, map[string]string{"Dockerfile": stage + "COPY --from=files /d/ /x/\n"})
	s.ok("build", "--network", "none", "-t", "all", ctx)
	if got := s.ok("run", "--rm", "--network", "none", "all", "ls", "/x"); got != "a\nb\n" {
		t.Fatalf("COPY --from without --exclude: %q", got)
	}
	ctx = buildContext(t, map[string]string{"Dockerfile": stage + "COPY --from=files --exclude=**/b /d/ /x/\n"})
	s.ok("build", "--network", "none", "-t", "some", ctx)
	if got := s.ok("run", "--rm", "--network", "none", "some", "ls", "/x"); got != "a\n" {
		t.Errorf("COPY --from --exclude=**/b after the same COPY without: /x has %q, want a only", got)
	}
	// From an image of one layer (a read-only overlay needs two).
	ctx = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY --from=busybox /bin/busybox /bb\n"})
	if r := s.run("build", "--network", "none", "-t", "onelayer", ctx); r.code != 0 {
		t.Errorf("COPY --from a one-layer image: exit %d\n%s", r.code, r.stderr)
	}
	s.assertClean()
}

// TestBuildAttackAddArchive: ADD of a hostile tar archive writes only
// inside the image: names with .. or absolute, a symlink to a host
// directory and a file through it, hard links to host files, a device.
func TestBuildAttackAddArchive(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	host := t.TempDir()
	secret := filepath.Join(host, "secret")
	if err := os.WriteFile(secret, []byte("HOST-SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	file := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	up := strings.Repeat("../", 12)
	file(up+host[1:]+"/dotdot", "x")
	file(host+"/abs", "x")
	tw.WriteHeader(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: host})
	file("l/through", "x")
	tw.WriteHeader(&tar.Header{Name: "rl", Typeflag: tar.TypeSymlink, Linkname: up + host[1:]})
	file("rl/through-rel", "x")
	tw.WriteHeader(&tar.Header{Name: "hl", Typeflag: tar.TypeLink, Linkname: secret})
	tw.WriteHeader(&tar.Header{Name: "hl2", Typeflag: tar.TypeLink, Linkname: up + secret[1:]})
	tw.WriteHeader(&tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666})
	file(strings.Repeat("n", 255), "long")
	tw.Close()
	ctx := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD evil.tar /dst/\n"})
	if err := os.WriteFile(filepath.Join(ctx, "evil.tar"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := s.run("build", "--network", "none", "-t", "evil", ctx)
	assertOnly(t, host, "secret")
	if r.code == 0 {
		out := s.ok("run", "--rm", "--network", "none", "evil", "sh", "-c", "cat /dst/hl /dst/hl2 2>&1; ls -l /dst/dev 2>&1; true")
		if strings.Contains(out, "HOST-SECRET") {
			t.Errorf("a hard link in the archive copied a host file into the image:\n%s", out)
		}
	} else if strings.Contains(r.stderr, "HOST-SECRET") {
		t.Errorf("the host file's content is in the error:\n%s", r.stderr)
	}
	if ps := s.ok("ps", "-a", "-q"); ps != "" {
		t.Errorf("sandboxes left: %s", ps)
	}
	s.assertClean()
}

// TestBuildAttackCommitRunningSwap: a running sandbox swaps directories
// of its upper layer for symlinks to a host directory while it is
// committed (not paused): the image holds the sandbox's files only,
// never the host's, which the store side (root of the user namespace)
// could read.
func TestBuildAttackCommitRunningSwap(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	atk := attackBin(t)
	victims := filepath.Join(s.dir, "victims")
	os.MkdirAll(filepath.Join(victims, "sub"), 0o755)
	for i := 0; i < 20; i++ {
		os.WriteFile(filepath.Join(victims, fmt.Sprintf("LEAKED-%02d", i)), []byte("v"), 0o644)
		os.WriteFile(filepath.Join(victims, "sub", fmt.Sprintf("LEAKED-%02d", i)), []byte("v"), 0o644)
	}
	// The upper layer is STORE/sandboxes/ID/upper: from /race there,
	// ../../../../../victims is s.dir/victims; the absolute path works
	// wherever the symlink is followed.
	for i, target := range []string{victims, "../../../../../victims", "../../../../../../victims"} {
		name := fmt.Sprintf("swapper%d", i)
		s.ok("run", "-d", "--name", name, "--network", "none", "-v", atk+":/attack:ro", "busybox", "sh", "-c",
			fmt.Sprintf("/attack swaprace -dir /race -target %s -n 6 > /dev/null", target))
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if r := s.run("exec", name, "sh", "-c", "ls /race/d05/sub | wc -l"); strings.TrimSpace(r.stdout) == "200" {
				break
			}
		}
		for k := 0; k < 6; k++ {
			img := fmt.Sprintf("swapped%d-%d", i, k)
			r := s.run("commit", "--pause=false", name, img)
			if r.code != 0 {
				t.Logf("commit %s: exit %d %s", img, r.code, r.stderr)
				continue
			}
			out := s.ok("run", "--rm", "--network", "none", img, "sh", "-c", "find / -xdev -name 'LEAKED-*' | head -3")
			if out != "" {
				t.Fatalf("the commit of a swapping sandbox holds host files:\n%s", out)
			}
			s.ok("rmi", img)
		}
		s.ok("rm", "-f", name)
	}
	if ents, _ := os.ReadDir(victims); len(ents) != 21 {
		t.Errorf("the victims changed: %d entries", len(ents))
	}
}

// TestBuildAttackAPIContext: the Docker API's context tar stays inside its
// directory: the Dockerfile (and dockerfile=) is read inside it, never
// through a symlink to a host file (whose content would come back in the
// error), and entries with .. or written through a symlink out are
// refused.
func TestBuildAttackAPIContext(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	host, _ := s.service(t, "0")
	victim := t.TempDir()
	secret := filepath.Join(victim, "secret")
	if err := os.WriteFile(secret, []byte("HOSTSECRETLINE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mk := func(add func(tw *tar.Writer)) string {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		add(tw)
		tw.Close()
		return buf.String()
	}
	file := func(tw *tar.Writer, name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	link := func(tw *tar.Writer, name, target string) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target})
	}
	cases := []struct {
		name, query, body string
	}{
		{"Dockerfile a symlink to a host file", "", mk(func(tw *tar.Writer) { link(tw, "Dockerfile", secret) })},
		{"Dockerfile a relative symlink out", "", mk(func(tw *tar.Writer) { link(tw, "Dockerfile", strings.Repeat("../", 12)+secret[1:]) })},
		{"dockerfile= a symlink out", "dockerfile=" + url.QueryEscape("sub/secret"), mk(func(tw *tar.Writer) { link(tw, "sub", victim); file(tw, "Dockerfile", "FROM busybox\n") })},
		{"dockerfile= with ..", "dockerfile=" + url.QueryEscape("../../../../../../.."+secret), mk(func(tw *tar.Writer) { file(tw, "Dockerfile", "FROM busybox\n") })},
		{"write through a symlink out", "", mk(func(tw *tar.Writer) {
			link(tw, "out", victim)
			file(tw, "out/pwned", "x")
			file(tw, "Dockerfile", "FROM busybox\n")
		})},
		{"names with ..", "", mk(func(tw *tar.Writer) {
			file(tw, strings.Repeat("../", 12)+victim[1:]+"/dotdot", "x")
			file(tw, "Dockerfile", "FROM busybox\n")
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := apiPost(t, host, "/build?t=apiattack&"+c.query, c.body)
			if strings.Contains(out, "HOSTSECRETLINE") {
				t.Errorf("the host file's content came back (%d):\n%s", code, out)
			}
			assertOnly(t, victim, "secret")
		})
	}
	if strings.Contains(s.ok("images"), "apiattack") && !t.Failed() {
		t.Logf("some cases built (the harmless ones)")
	}
}

// TestBuildAttackDockerignoreSymlink: what .dockerignore leaves out is not
// in the context (docker does not even send it), so a symlink to it does
// not bring it back into a COPY.
func TestBuildAttackDockerignoreSymlink(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	files := map[string]string{
		".dockerignore":     "private\npartly/key\n",
		"private/key":       "IGNORED-KEY\n",
		"partly/key":        "IGNORED-KEY\n",
		"partly/kept":       "kept\n",
		"pub":               "symlink:private",
		"keylink":           "symlink:private/key",
		"partlink":          "symlink:partly",
		"sub/deeper/toroot": "symlink:../../partly",
	}
	for _, c := range []struct{ copy, want string }{
		{"COPY pub /x", "no such file"},
		{"COPY keylink /x", "no such file"},
		{"COPY pub/key /x", "no such file"},
	} {
		files["Dockerfile"] = "FROM busybox\n" + c.copy + "\n"
		r := s.run("build", "--network", "none", "-t", "ignored", buildContext(t, files))
		if r.code != 125 {
			t.Errorf("%s (a symlink to an ignored path): exit %d, want 125\n%s", c.copy, r.code, r.stderr)
			continue
		}
		assertOneErrorLine(t, r.stderr, c.want)
	}
	files["Dockerfile"] = "FROM busybox\nCOPY partlink /p/\nCOPY sub/deeper/toroot /q/\n"
	if r := s.run("build", "--network", "none", "-t", "partly", buildContext(t, files)); r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	if got := s.ok("run", "--rm", "--network", "none", "partly", "ls", "/p", "/q"); got != "/p:\nkept\n\n/q:\nkept\n" {
		t.Errorf("COPY of a symlink to a directory with an ignored file: %q, want kept only", got)
	}
	s.assertClean()
}
