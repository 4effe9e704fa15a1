//go:build integration

package integration

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildContext writes files (path -> content) into a new context
// directory.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(c, "symlink:") {
			if err := os.Symlink(strings.TrimPrefix(c, "symlink:"), full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (s *store) withBusybox() {
	s.t.Helper()
	s.ok("pull", "-q", ociRef("busybox", "latest"))
}

func TestBuildMultiStage(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	ctx := buildContext(t, map[string]string{
		"Dockerfile": `ARG BASE=busybox
FROM $BASE AS base
ARG GREETING=hi
ENV G=$GREETING
WORKDIR /app
COPY file.txt ./
RUN echo "$G from run" > run.txt && echo "bob:x:1234:1234::/home/bob:/bin/sh" >> /etc/passwd
FROM busybox
COPY --from=base /etc/passwd /etc/passwd
COPY --from=base --chown=1234:1234 /app /app2
COPY --chown=bob sub/ /sub/
USER bob
WORKDIR /app2
LABEL stage=final
EXPOSE 8080/tcp
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["id -u; pwd; cat run.txt; ls -n /sub; echo G=$G"]
`,
		"file.txt":      "hello\n",
		"sub/kept":      "data\n",
		"sub/ignored":   "secret\n",
		".dockerignore": "sub/ignored\n",
	})
	r := s.run("build", "--network", "none", "-t", "multi", "--build-arg", "GREETING=yo", "--label", "by=test", ctx)
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if len(id) != 64 {
		t.Fatalf("build printed %q, want the image ID", r.stdout)
	}
	if !strings.Contains(r.stderr, "Successfully tagged localhost/multi:latest") {
		t.Errorf("no tag line in:\n%s", r.stderr)
	}
	out := s.ok("run", "--rm", "--network", "none", "multi")
	for _, want := range []string{"1234\n", "/app2\n", "yo from run\n", "kept", "G=\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ignored") {
		t.Errorf(".dockerignore'd file was copied:\n%s", out)
	}
	if !strings.Contains(out, "1234     1234") && !strings.Contains(out, "1234 1234") {
		t.Errorf("--chown=bob: /sub/kept not owned by 1234:1234:\n%s", out)
	}
	insp := s.ok("image", "inspect", "multi")
	for _, want := range []string{`"stage": "final"`, `"by": "test"`, `"8080/tcp"`, `"SIGUSR1"`, `"User": "bob"`} {
		if !strings.Contains(insp, want) {
			t.Errorf("image inspect lacks %s:\n%s", want, insp)
		}
	}
	// Intermediate images are the cache, not listed without -a.
	if n := strings.Count(s.ok("images", "-q"), "\n"); n != 2 {
		t.Errorf("images lists %d images, want busybox and multi", n)
	}
	if n := strings.Count(s.ok("images", "-a", "-q"), "\n"); n <= 2 {
		t.Errorf("images -a lists %d images, want the intermediate ones too", n)
	}
	if ps := s.ok("ps", "-a", "-q"); ps != "" {
		t.Errorf("build left sandboxes: %s", ps)
	}
	s.assertClean()
}

func TestBuildCache(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	ctx := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\nRUN echo RAN-FIRST; cat /a.txt > /copy\nCOPY b.txt /b.txt\nRUN echo RAN-SECOND; cat /b.txt >> /copy\n",
		"a.txt":      "A\n",
		"b.txt":      "B\n",
	})
	build := func() (string, string) {
		t.Helper()
		r := s.run("build", "--network", "none", "-t", "cached", ctx)
		if r.code != 0 {
			t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout), r.stderr + r.stdout
	}
	// A RUN's output line (the STEP line holds the marker too).
	ran := func(out, marker string) bool { return strings.Contains("\n"+out, "\n"+marker+"\n") }
	id1, out := build()
	if !ran(out, "RAN-FIRST") || !ran(out, "RAN-SECOND") {
		t.Fatalf("first build did not run both RUNs:\n%s", out)
	}
	id2, out := build()
	if ran(out, "RAN-FIRST") || ran(out, "RAN-SECOND") {
		t.Errorf("a cached rebuild ran a RUN:\n%s", out)
	}
	if id2 != id1 {
		t.Errorf("a cached rebuild made another image: %s, then %s", id1, id2)
	}
	// Changing b.txt rebuilds from its COPY on, not before.
	if err := os.WriteFile(filepath.Join(ctx, "b.txt"), []byte("B2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id3, out := build()
	if ran(out, "RAN-FIRST") || !ran(out, "RAN-SECOND") {
		t.Errorf("after a change of b.txt, want only the second RUN to run:\n%s", out)
	}
	if id3 == id1 {
		t.Errorf("a changed context gave the same image")
	}
	if got := s.ok("run", "--rm", "--network", "none", "cached", "cat", "/copy"); got != "A\nB2\n" {
		t.Errorf("the rebuilt image has %q", got)
	}
	// --no-cache runs everything again.
	r := s.run("build", "--network", "none", "--no-cache", "-t", "cached", ctx)
	if r.code != 0 || !ran(r.stderr+r.stdout, "RAN-FIRST") {
		t.Errorf("--no-cache: exit %d, RUN not run again:\n%s", r.code, r.stderr)
	}
}

func TestBuildFailures(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "host-secret"), []byte("HOST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dockerfile string
		files            map[string]string
		code             int
		want             string
	}{
		{"failing RUN", "FROM busybox\nRUN echo output-of-run; exit 3\n", nil, 3, "exit status 3"},
		{"unknown instruction", "FROM busybox\nFROBNICATE x\n", nil, 125, "unknown instruction: FROBNICATE"},
		{"COPY outside the context", "FROM busybox\nCOPY ../x /x\n", nil, 125, "outside the build context"},
		{"COPY through a symlink out", "FROM busybox\nCOPY link /x\n", map[string]string{"link": "symlink:" + filepath.Join(outside, "host-secret")}, 125, "outside the build context"},
		{"COPY of nothing", "FROM busybox\nCOPY nope /x\n", nil, 125, "no such file in the build context"},
		{"no FROM image", "FROM nosuchimage.invalid/x\nRUN true\n", nil, 125, "nosuchimage"},
		{"COPY --parents", "FROM busybox\nCOPY --parents a.txt /x/\n", map[string]string{"a.txt": "a"}, 125, "not supported"},
		{"COPY --link", "FROM busybox\nCOPY --link a.txt /x\n", map[string]string{"a.txt": "a"}, 125, "not supported"},
		{"RUN heredoc", "FROM busybox\nRUN <<EOT\necho hi\nEOT\n", nil, 125, "not supported"},
		{"RUN --mount option", "FROM busybox\nRUN --mount=type=bind,target=/c,rw=true true\n", nil, 125, "rw"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"Dockerfile": c.dockerfile}
			for k, v := range c.files {
				files[k] = v
			}
			ctx := buildContext(t, files)
			r := s.run("build", "--network", "none", "-t", "broken", ctx)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, c.code, r.stderr)
			}
			assertOneErrorLine(t, r.stderr, c.want)
			if c.name == "failing RUN" && !strings.Contains(r.stderr, "output-of-run") {
				t.Errorf("the failing RUN's output is not shown:\n%s", r.stderr)
			}
			if strings.Contains(s.ok("images", "-a"), "broken") {
				t.Errorf("an image named broken was left")
			}
			if ps := s.ok("ps", "-a", "-q"); ps != "" {
				t.Errorf("sandboxes left: %s", ps)
			}
			s.assertClean()
		})
	}
	t.Run("bad --network", func(t *testing.T) {
		ctx := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
		r := s.run("build", "--network", "bogus:x=y", "-t", "broken", ctx)
		if r.code != 125 || strings.Contains(r.stderr, "STEP 2") {
			t.Fatalf("exit %d, want 125 before any step\n%s", r.code, r.stderr)
		}
		assertOneErrorLine(t, r.stderr, "--network")
		if ps := s.ok("ps", "-a", "-q"); ps != "" {
			t.Errorf("sandboxes left: %s", ps)
		}
	})
	t.Run("missing Dockerfile", func(t *testing.T) {
		r := s.run("build", "-t", "broken", t.TempDir())
		if r.code != 125 {
			t.Fatalf("exit %d, want 125\n%s", r.code, r.stderr)
		}
		assertOneErrorLine(t, r.stderr, "no Containerfile or Dockerfile")
		r = s.run("build", "-f", "/nonexistent/Dockerfile", t.TempDir())
		if r.code != 125 {
			t.Fatalf("-f missing: exit %d, want 125\n%s", r.code, r.stderr)
		}
		assertOneErrorLine(t, r.stderr, "/nonexistent/Dockerfile")
	})
}

// TestBuildCopySymlinkInImage: a symlink the image itself holds (to / or
// to a host path) does not send a COPY's files out of its root.
func TestBuildCopySymlinkInImage(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	host := t.TempDir()
	ctx := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN ln -s / /up && ln -s " + host + " /hostdir && ln -s ../../../../../../.. /dots\n" +
			"COPY f.txt /up" + host + "/via-root\nCOPY f.txt /hostdir/via-abs\nCOPY f.txt /dots" + host + "/via-dots\n",
		"f.txt": "in the image\n",
	})
	r := s.run("build", "--network", "none", "-t", "links", ctx)
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	ents, _ := os.ReadDir(host)
	for _, e := range ents {
		t.Errorf("COPY wrote %s on the host", filepath.Join(host, e.Name()))
	}
	out := s.ok("run", "--rm", "--network", "none", "links", "sh", "-c", "cat "+host+"/via-root "+host+"/via-abs "+host+"/via-dots")
	if strings.Count(out, "in the image") != 3 {
		t.Errorf("the copies are not inside the image's root:\n%s", out)
	}
}

func TestCommit(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	s.ok("run", "--name", "c1", "--network", "none", "-e", "MINE=1", "busybox", "sh", "-c", "echo changed > /new; rm /bin/ls")
	id := strings.TrimSpace(s.ok("commit", "-m", "a message", "-a", "me", "-c", "ENV FOO=bar", "-c", `CMD ["cat", "/new"]`, "c1", "committed"))
	if len(id) != 64 {
		t.Fatalf("commit printed %q", id)
	}
	if got := s.ok("run", "--rm", "--network", "none", "committed"); got != "changed\n" {
		t.Errorf("run of the commit: %q", got)
	}
	out := s.ok("run", "--rm", "--network", "none", "committed", "sh", "-c", "echo $FOO $MINE; test -e /bin/ls && echo ls-back || echo ls-gone")
	if out != "bar 1\nls-gone\n" {
		t.Errorf("the commit's config or layer: %q", out)
	}
	insp := s.ok("image", "inspect", "committed")
	if !strings.Contains(insp, `"FOO=bar"`) {
		t.Errorf("inspect lacks the --change:\n%s", insp)
	}
	s.fails(125, "nosuch", "commit", "nosuch", "x")
	s.fails(125, "RUN cannot be changed", "commit", "-c", "RUN true", "c1", "bad")
	if strings.Contains(s.ok("images", "-a"), "bad") {
		t.Errorf("a failed commit left an image")
	}
	s.ok("rm", "c1")
	s.assertClean()
}

// TestDockerAPIBuildCommit: docker build (the classic builder) and docker
// commit through usandbox's API socket.
func TestDockerAPIBuildCommit(t *testing.T) {
	bin := dockerCLI(t)
	s := newStore(t)
	s.withBusybox()
	host, _ := s.service(t, "0")
	ctx := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nARG WHO=nobody\nCOPY hello.txt /hello.txt\nRUN echo \"built by $WHO\" >> /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n",
		"hello.txt":  "hello\n",
	})
	c := exec.Command(bin, "build", "--network", "none", "--build-arg", "WHO=docker", "-t", "viadocker", ctx)
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_BUILDKIT=0")
	r, err := capture(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "Successfully built") || !strings.Contains(r.stdout, "Successfully tagged viadocker") {
		t.Fatalf("docker build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := s.ok("run", "--rm", "--network", "none", "viadocker"); got != "hello\nbuilt by docker\n" {
		t.Errorf("the image docker built: %q", got)
	}
	c = exec.Command(bin, "build", "-t", "viadocker-broken", "-")
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_BUILDKIT=0")
	c.Stdin = strings.NewReader("FROM busybox\nRUN exit 4\n")
	if r, err = capture(c); err != nil {
		t.Fatal(err)
	}
	if r.code == 0 || !strings.Contains(r.stderr, "exit status 4") {
		t.Errorf("docker build of a failing RUN: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	s.ok("run", "--name", "tocommit", "--network", "none", "busybox", "sh", "-c", "echo via-commit > /c")
	r = docker(t, bin, host, "commit", "-c", `CMD ["cat", "/c"]`, "tocommit", "committed-by-docker")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("docker commit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := s.ok("run", "--rm", "--network", "none", "committed-by-docker"); got != "via-commit\n" {
		t.Errorf("the image docker committed: %q", got)
	}
	if r = docker(t, bin, host, "commit", "nosuch", "x"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("docker commit of no sandbox: exit %d %s", r.code, r.stderr)
	}
	archive := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(env.cache, "rootfs", "busybox"), "-cf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	r = docker(t, bin, host, "import", "-c", `CMD ["echo", "docker-imported"]`, archive, "viaimport:v1")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("docker import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := s.ok("run", "--rm", "--network", "none", "viaimport:v1"); got != "docker-imported\n" {
		t.Errorf("the image docker imported: %q", got)
	}
}

// TestBuildPushPullRun: a built image (its new layers stored uncompressed)
// goes to the registry and comes back in a fresh store, and survives a
// save/load round trip with its ID.
func TestBuildPushPullRun(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	ctx := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY msg /msg\nRUN echo built >> /msg\nCMD [\"cat\", \"/msg\"]\n",
		"msg":        "copied\n",
	})
	id := strings.TrimSpace(s.ok("build", "--network", "none", "-q", "-t", "topush", ctx))
	dest := regRef("built/topush:v1")
	s.ok("push", "--tls-verify=false", "topush", dest)
	fresh := newStore(t)
	fresh.ok("pull", "-q", "--tls-verify=false", dest)
	if got := fresh.ok("run", "--rm", "--network", "none", dest); got != "copied\nbuilt\n" {
		t.Errorf("the pushed and pulled image runs: %q", got)
	}
	archive := filepath.Join(t.TempDir(), "built.tar")
	s.ok("save", "-o", archive, "topush")
	other := newStore(t)
	other.ok("load", "-i", archive)
	if got := strings.TrimSpace(other.ok("images", "-q", "--no-trunc")); got != "sha256:"+id {
		t.Errorf("after save/load the image is %q, built %s", got, id)
	}
}

func TestImport(t *testing.T) {
	s := newStore(t)
	archive := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if out, err := exec.Command("tar", "-C", filepath.Join(env.cache, "rootfs", "busybox"), "-czf", archive, ".").CombinedOutput(); err != nil {
		t.Skipf("cannot make a rootfs archive from %s: %v %s", env.cache, err, out)
	}
	id := strings.TrimSpace(s.ok("import", "-c", `CMD ["echo", "imported"]`, "-m", "from a tar", archive, "imported"))
	if len(id) != 64 {
		t.Fatalf("import printed %q", id)
	}
	if got := s.ok("run", "--rm", "--network", "none", "imported"); got != "imported\n" {
		t.Errorf("run of the imported image: %q", got)
	}
	c := s.cmd("import", "-", "fromstdin")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.Stdin = f
	if r, err := capture(c); err != nil || r.code != 0 {
		t.Fatalf("import -: %v %+v", err, r)
	}
	s.fails(125, "not a tar file", "import", "/nonexistent.tar", "x")
	junk := filepath.Join(t.TempDir(), "junk.tar")
	if err := os.WriteFile(junk, []byte("this is not an archive at all, not even close to one"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := s.run("import", junk, "junk")
	if r.code != 125 {
		t.Fatalf("import of junk: exit %d\n%s", r.code, r.stderr)
	}
	assertOneErrorLine(t, r.stderr, "junk")
	if strings.Contains(s.ok("images"), "junk") {
		t.Errorf("a failed import left an image")
	}
	s.assertClean()
}

func TestBuildFlags(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	ctx := buildContext(t, map[string]string{"ctx.txt": "from the context\n"})
	extra := buildContext(t, map[string]string{"e.txt": "from the extra context\n"})
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	df := filepath.Join(t.TempDir(), "Containerfile.custom")
	if err := os.WriteFile(df, []byte(`FROM busybox AS first
RUN echo first > /f
FROM first AS second
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /tokcopy
COPY --from=extra e.txt /e.txt
COPY ctx.txt /ctx.txt
`), 0o644); err != nil {
		t.Fatal(err)
	}
	iid := filepath.Join(t.TempDir(), "iid")
	r := s.run("build", "--network", "none", "-q", "-f", df, "--secret", "id=tok,src="+secret, "--build-context", "extra="+extra, "--iidfile", iid, "-t", "flags", ctx)
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if b, _ := os.ReadFile(iid); string(b) != "sha256:"+id {
		t.Errorf("--iidfile holds %q, build printed %s", b, id)
	}
	if strings.Contains(r.stderr, "STEP") {
		t.Errorf("-q printed the steps:\n%s", r.stderr)
	}
	out := s.ok("run", "--rm", "--network", "none", "flags", "sh", "-c", "cat /f /tokcopy /e.txt /ctx.txt; ls /run/secrets 2>&1; true")
	for _, want := range []string{"first\n", "s3cr3t\n", "from the extra context\n", "from the context\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the image lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tok\n") {
		t.Errorf("the secret's file is in the image:\n%s", out)
	}
	// --target stops at the first stage.
	s.ok("build", "--network", "none", "-q", "-f", df, "--target", "first", "-t", "onlyfirst", ctx)
	if out := s.ok("run", "--rm", "--network", "none", "onlyfirst", "sh", "-c", "cat /f; test -e /e.txt && echo has-e || echo no-e"); out != "first\nno-e\n" {
		t.Errorf("--target first: %q", out)
	}
	s.fails(125, "no stage named", "build", "-f", df, "--target", "nosuch", ctx)
	s.fails(125, "--build-context", "build", "-f", df, "--build-context", "bad", ctx)
	s.fails(125, "--secret", "build", "-f", df, "--secret", "id=x", ctx)
}

// TestPushSkipsPulledBlobs: the blobs of a pulled image are not sent again
// to the registry they came from (podman's push skips them too).
func TestPushSkipsPulledBlobs(t *testing.T) {
	s := newStore(t)
	s.ok("pull", "-q", "--tls-verify=false", regRef("busybox:latest"))
	r := s.run("push", "--tls-verify=false", regRef("busybox:latest"), regRef("elsewhere/busybox:copy"))
	if r.code != 0 {
		t.Fatalf("push: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "skipped: already exists") || strings.Contains(r.stderr, "Copying blob") && !strings.Contains(r.stderr, "skipped") {
		t.Errorf("push sent the pulled layer again:\n%s", r.stderr)
	}
}

// TestBuildAdd: ADD unpacks a local tar archive and downloads a URL.
func TestBuildAdd(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/files/remote.txt" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "downloaded\n")
	}))
	defer srv.Close()
	ctx := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nADD tree.tar.gz /unpacked/\nADD " + srv.URL + "/files/remote.txt /dl/\nADD " + srv.URL + "/files/remote.txt /renamed.txt\n",
	})
	tree := buildContext(t, map[string]string{"top/inner.txt": "from the archive\n"})
	if out, err := exec.Command("tar", "-C", tree, "-czf", filepath.Join(ctx, "tree.tar.gz"), "top").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	s.ok("build", "--network", "none", "-q", "-t", "added", ctx)
	out := s.ok("run", "--rm", "--network", "none", "added", "cat", "/unpacked/top/inner.txt", "/dl/remote.txt", "/renamed.txt")
	if out != "from the archive\ndownloaded\ndownloaded\n" {
		t.Errorf("ADD results: %q", out)
	}
	ctx404 := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD " + srv.URL + "/nope /x\n"})
	s.fails(125, "404", "build", "--network", "none", "-t", "add404", ctx404)
}

// TestDockerAPIComposeBuild: docker-compose 1.29 builds a service's image
// through the socket (docker-py's POST /build) and runs it.
func TestDockerAPIComposeBuild(t *testing.T) {
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("no docker-compose on PATH (hack/deps.sh installs Debian's docker-compose)")
	}
	s := newStore(t)
	s.withBusybox()
	host, _ := s.service(t, "0")
	dir := buildContext(t, map[string]string{
		"docker-compose.yml": "version: \"3\"\nservices:\n  app:\n    build:\n      context: ./app\n      args:\n        FLAVOUR: compose\n    image: composebuilt\n",
		"app/Dockerfile":     "FROM busybox\nARG FLAVOUR=plain\nRUN echo \"built by $FLAVOUR\" > /flavour\nCMD [\"cat\", \"/flavour\"]\n",
	})
	c := exec.Command(compose, "-p", "cb", "--no-ansi", "build")
	c.Dir = dir
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_BUILDKIT=0", "COMPOSE_DOCKER_CLI_BUILD=0")
	r, err := capture(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 {
		t.Fatalf("docker-compose build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := s.ok("run", "--rm", "--network", "none", "composebuilt"); got != "built by compose\n" {
		t.Errorf("the image compose built: %q", got)
	}
}

// TestExportImport: export of a sandbox's root, imported again, runs with
// the sandbox's changes.
func TestExportImport(t *testing.T) {
	s := newStore(t)
	s.withBusybox()
	s.ok("run", "--name", "ex", "--network", "none", "busybox", "sh", "-c", "echo exported > /marker")
	archive := filepath.Join(t.TempDir(), "root.tar")
	s.ok("export", "-o", archive, "ex")
	s.ok("import", "-c", `CMD ["cat", "/marker"]`, archive, "reimported")
	if got := s.ok("run", "--rm", "--network", "none", "reimported"); got != "exported\n" {
		t.Errorf("run of the re-imported export: %q", got)
	}
	s.ok("rm", "ex")
}
