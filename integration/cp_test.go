//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpScript fills a sandbox with what the cp tests read: a directory, a
// file of uid 1000, and symlinks that lead out of the root if resolved
// on the host.
const cpScript = `mkdir -p /d/sub /r; echo hi > /d/f; echo deep > /d/sub/g; chown 1000:1001 /d/f; ln -s f /d/lf
ln -s / /x; ln -s ../../../../../.. /up; ln -s /proc/self/root /pr; touch /ready`

// tarNames lists a tar stream's entries as "name uid:gid".
func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the tar stream: %v (%d bytes)", err, len(b))
		}
		out = append(out, fmt.Sprintf("%s %d:%d", h.Name, h.Uid, h.Gid))
	}
	sort.Strings(out)
	return out
}

// tarOf makes a tar stream of the entries given.
func tarOf(t *testing.T, ents ...tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range ents {
		h := h
		var body []byte
		if h.Typeflag == tar.TypeReg {
			body = []byte("from tar " + h.Name + "\n")
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return b.Bytes()
}

func (s *store) cpIn(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	c := s.cmd(append([]string{"cp"}, args...)...)
	c.Stdin = bytes.NewReader(stdin)
	r, err := capture(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cpWorld checks one sandbox (running or not) both ways.
func cpWorld(t *testing.T, s *store, name string, running bool) {
	host := t.TempDir()
	in := filepath.Join(host, "in.txt")
	os.WriteFile(in, []byte("from the host\n"), 0o640)
	os.MkdirAll(filepath.Join(host, "tree", "a"), 0o755)
	os.WriteFile(filepath.Join(host, "tree", "a", "b"), []byte("b\n"), 0o644)
	os.WriteFile(filepath.Join(host, "tree", "top"), []byte("top\n"), 0o600)
	look := func(p string) string {
		// What the sandbox holds, read back through cp to stdout.
		r := s.run("cp", name+":"+p, "-")
		if r.code != 0 {
			t.Fatalf("cp %s:%s -: %+v", name, p, r)
		}
		tr := tar.NewReader(strings.NewReader(r.stdout))
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		return fmt.Sprintf("%s %o %d:%d %s", h.Name, h.Mode&0o7777, h.Uid, h.Gid, b)
	}

	// Host to sandbox: a file to a new name, into a directory, a tree,
	// a tree's contents (trailing /.).
	s.ok("cp", in, name+":/new.txt")
	if got := look("/new.txt"); got != "new.txt 640 0:0 from the host\n" {
		t.Errorf("cp FILE %s:/new.txt: the sandbox has %q", name, got)
	}
	s.ok("cp", in, name+":/d/")
	if got := look("/d/in.txt"); got != "in.txt 640 0:0 from the host\n" {
		t.Errorf("cp FILE %s:/d/: %q", name, got)
	}
	s.ok("cp", filepath.Join(host, "tree"), name+":/t1")
	s.ok("cp", filepath.Join(host, "tree"), name+":/d")
	s.ok("cp", filepath.Join(host, "tree")+"/.", name+":/d/sub")
	for _, p := range []string{"/t1/a/b", "/d/tree/a/b", "/d/sub/a/b", "/d/sub/top"} {
		if got := look(p); !strings.HasSuffix(got, " 0:0 "+map[bool]string{true: "b\n", false: "top\n"}[strings.HasSuffix(p, "/b")]) {
			t.Errorf("cp DIR: %s holds %q", p, got)
		}
	}
	// -a keeps the owner, seen from inside: the caller is the sandbox's root.
	s.ok("cp", "-a", in, name+":/owned")
	if got := look("/owned"); !strings.Contains(got, " 0:0 ") {
		t.Errorf("cp -a of the caller's file: %q", got)
	}
	// A tar stream on stdin: -a keeps its IDs (the sandbox's), else root's.
	ts := tarOf(t, tar.Header{Name: "s1", Typeflag: tar.TypeReg, Uid: 1234, Gid: 4321},
		tar.Header{Name: "sd/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8}, tar.Header{Name: "sd/x", Typeflag: tar.TypeReg, Uid: 7, Gid: 8})
	if r := s.cpIn(t, ts, "-a", "-", name+":/r"); r.code != 0 {
		t.Fatalf("cp -a - %s:/r: %+v", name, r)
	}
	if got := look("/r/s1"); got != "s1 644 1234:4321 from tar s1\n" {
		t.Errorf("cp -a - : %q", got)
	}
	if got := look("/r/sd/x"); got != "x 644 7:8 from tar sd/x\n" {
		t.Errorf("cp -a - : %q", got)
	}
	if r := s.cpIn(t, ts, "-", name+":/d/sub"); r.code != 0 {
		t.Fatalf("cp - %s:/d/sub: %+v", name, r)
	}
	if got := look("/d/sub/s1"); got != "s1 644 0:0 from tar s1\n" {
		t.Errorf("cp - : %q", got)
	}

	// Sandbox to host: a tree, a file, a tree's contents; the caller owns
	// what is written.
	out := t.TempDir()
	s.ok("cp", name+":/d", out)
	b, err := os.ReadFile(filepath.Join(out, "d", "sub", "g"))
	if err != nil || string(b) != "deep\n" {
		t.Fatalf("cp %s:/d %s: %q %v", name, out, b, err)
	}
	if l, err := os.Readlink(filepath.Join(out, "d", "lf")); err != nil || l != "f" {
		t.Errorf("cp %s:/d: the symlink lf is %q %v", name, l, err)
	}
	var st = mustStat(t, filepath.Join(out, "d", "f"))
	if st.uid != uint32(os.Getuid()) {
		t.Errorf("cp out: d/f belongs to %d, want the caller %d", st.uid, os.Getuid())
	}
	s.ok("cp", name+":/d/f", filepath.Join(out, "f.copy"))
	s.ok("cp", name+":/d/sub/.", filepath.Join(out, "contents"))
	for _, p := range []string{"f.copy", "contents/g", "contents/a/b"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("cp out: %v", err)
		}
	}
	// -L copies what a link names.
	s.ok("cp", "-L", name+":/d/lf", filepath.Join(out, "followed"))
	if b, _ := os.ReadFile(filepath.Join(out, "followed")); string(b) != "hi\n" {
		t.Errorf("cp -L: %q", b)
	}
	// To stdout: a tar stream with the sandbox's own IDs.
	r := s.run("cp", name+":/d", "-")
	names := tarNames(t, []byte(r.stdout))
	if r.code != 0 || !contains(names, "d/ 0:0") || !contains(names, "d/f 1000:1001") || !contains(names, "d/sub/g 0:0") {
		t.Errorf("cp %s:/d -: %d %v %s", name, r.code, names, r.stderr)
	}

	// Bad input: one line, 125, nothing written.
	s.fails(125, "could not be found", "cp", in, name+":/nope/dir/x")
	s.fails(125, "could not be found", "cp", name+":/nonexistent", out)
	s.fails(125, "could not be found", "cp", name+":/d", filepath.Join(out, "no", "such"))
	s.fails(125, "no such sandbox", "cp", in, "nosuch:/x")
	s.fails(125, "SANDBOX:PATH", "cp", in, filepath.Join(out, "x"))
	s.fails(125, "cannot copy directory", "cp", filepath.Join(host, "tree"), name+":/new.txt")
	if _, err := os.Stat(filepath.Join(out, "x")); err == nil {
		t.Errorf("a failed cp wrote %s", filepath.Join(out, "x"))
	}
	if running {
		if st := s.inspect(name).State; !st.Running {
			t.Errorf("the sandbox stopped during cp: %+v", st)
		}
	}
}

type statT struct{ uid, gid uint32 }

func mustStat(t *testing.T, p string) statT {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return statT{st.Uid, st.Gid}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestCpRunningAndStopped: cp both ways with a running sandbox, then the
// same once it has stopped, and with one only created.
func TestCpRunningAndStopped(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "c", "busybox", "sh", "-c", cpScript+"; exec sleep 600")
	waitFor(t, "the sandbox's files", func() bool { return s.run("exec", "c", "test", "-e", "/ready").code == 0 })
	t.Run("running", func(t *testing.T) { cpWorld(t, s.with(t), "c", true) })
	s.ok("stop", "-t", "0", "c")
	s.ok("run", "--name", "e", "busybox", "sh", "-c", cpScript)
	t.Run("stopped", func(t *testing.T) { cpWorld(t, s.with(t), "e", false) })
	s.ok("create", "--name", "cr", "busybox", "true")
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "f"), []byte("x\n"), 0o644)
	s.ok("cp", filepath.Join(host, "f"), "cr:/f")
	s.ok("cp", "cr:/f", filepath.Join(host, "back"))
	if b, _ := os.ReadFile(filepath.Join(host, "back")); string(b) != "x\n" {
		t.Errorf("cp with a created sandbox: %q", b)
	}
	// What was written is the sandbox's: it sees it when it starts.
	if out := s.ok("start", "-a", "cr"); out != "" {
		t.Errorf("start -a cr: %q", out)
	}
	if out := s.ok("run", "--rm", "busybox", "true"); out != "" {
		t.Errorf("%q", out)
	}
	assertNoCpLeftovers(t, s)
}

// assertNoCpLeftovers: no helper process and no mount of ours remains.
func assertNoCpLeftovers(t *testing.T, s *store) {
	t.Helper()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), s.dir) {
		t.Errorf("a mount under the store is left in the caller's namespace:\n%s", mi)
	}
	for _, pid := range usandboxProcesses() {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), "usandbox-cp") {
			t.Errorf("a cp helper is left: pid %d %q", pid, cmdline)
		}
	}
}

// TestCpEscape: a hostile sandbox's symlinks (to /, up, /proc/self/root,
// a host path), and a directory swapped for a symlink while cp runs, never
// let cp read or write a file of the host.
func TestCpEscape(t *testing.T) {
	s := withImages(t, false)
	dir, marker := hostMarker(t)
	os.Chmod(marker, 0o600)
	os.Chmod(dir, 0o700)
	secret, _ := os.ReadFile(marker)
	rel := strings.TrimPrefix(marker, "/")
	passwd := fileHash(t, "/etc/passwd")
	script := cpScript + fmt.Sprintf(`; ln -s %s /hostdir; mkdir -p /swap
while :; do rm -rf /swap/a; mkdir /swap/a; echo inside > /swap/a/f; rm -rf /swap/a; ln -s / /swap/a; done &
exec sleep 600`, dir)
	s.ok("run", "-d", "--name", "h", "busybox", "sh", "-c", script)
	waitFor(t, "the sandbox's files", func() bool { return s.run("exec", "h", "test", "-e", "/ready").code == 0 })
	check := func(t *testing.T, name string) {
		out := t.TempDir()
		src := filepath.Join(t.TempDir(), "evil")
		os.WriteFile(src, []byte("evil\n"), 0o644)
		reads := []string{"/x/" + rel, "/up/" + rel, "/pr/" + rel, "/hostdir/" + filepath.Base(marker), "/x" + dir, "/up" + dir}
		for _, p := range reads {
			r := s.run("cp", name+":"+p, "-")
			if strings.Contains(r.stdout, string(secret)) && strings.Contains(r.stdout, filepath.Base(marker)) || r.code == 0 {
				t.Errorf("HOLE: cp %s:%s - read the host: %+v", name, p, r)
			}
			r = s.run("cp", name+":"+p, out)
			if r.code == 0 {
				t.Errorf("HOLE: cp %s:%s %s: %+v", name, p, out, r)
			}
		}
		for _, p := range []string{"/x" + dir + "/", "/up" + dir + "/", "/pr" + dir + "/", "/hostdir/", "/x" + dir + "/evil", "/hostdir/evil"} {
			s.run("cp", src, name+":"+p)
		}
		// A tar stream that climbs out, or writes through a link it made.
		ts := tarOf(t, tar.Header{Name: "../../../../../../.." + dir + "/evil-tar", Typeflag: tar.TypeReg},
			tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: dir},
			tar.Header{Name: "l/evil-link", Typeflag: tar.TypeReg},
			tar.Header{Name: "hl", Typeflag: tar.TypeLink, Linkname: "../../../../../.." + rel})
		s.cpIn(t, ts, "-", name+":/r")
		s.cpIn(t, ts, "-", name+":/x")
		// /x/etc/passwd is the sandbox's /etc/passwd.
		s.ok("cp", src, name+":/x/etc/passwd")
		if r := s.run("cp", name+":/x/etc/passwd", "-"); !strings.Contains(r.stdout, "evil\n") {
			t.Errorf("cp to %s:/x/etc/passwd did not reach the sandbox's /etc/passwd: %+v", name, r)
		}
		// A directory swapped for a link to / while cp runs.
		deadline := time.Now().Add(3 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			r := s.run("cp", name+":/swap/a/"+rel, "-")
			if strings.Contains(r.stdout, string(secret)) && r.code == 0 {
				t.Fatalf("HOLE: the race read the host's %s", marker)
			}
			s.run("cp", src, name+":/swap/a"+dir+"/")
			s.run("cp", name+":/swap", filepath.Join(out, fmt.Sprint("swap", i)))
		}
		assertOnly(t, dir, filepath.Base(marker))
		if fileHash(t, "/etc/passwd") != passwd {
			t.Errorf("HOLE: the host's /etc/passwd changed")
		}
		if b, _ := os.ReadFile(marker); !bytes.Equal(b, secret) {
			t.Errorf("HOLE: the marker changed: %q", b)
		}
		// Nothing of the host came out either.
		filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, secret) && filepath.Base(p) == filepath.Base(marker) {
					t.Errorf("HOLE: %s holds the host's marker", p)
				}
			}
			if err == nil && fi.Mode()&os.ModeSymlink != 0 {
				if _, err := os.Stat(p); err == nil {
					// A link copied out points where the sandbox
					// said; it is never followed by cp.
				}
			}
			return nil
		})
	}
	t.Run("running", func(t *testing.T) { check(t, "h") })
	s.ok("stop", "-t", "0", "h")
	t.Run("stopped", func(t *testing.T) { check(t, "h") })
	assertNoCpLeftovers(t, s)
}

// TestExport: export writes the whole root filesystem, to a file or a
// pipe, never to a terminal; of a running sandbox and a stopped one.
func TestExport(t *testing.T) {
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "c", "busybox", "sh", "-c", cpScript+"; exec sleep 600")
	waitFor(t, "the sandbox's files", func() bool { return s.run("exec", "c", "test", "-e", "/ready").code == 0 })
	want := func(what string, b []byte) {
		t.Helper()
		names := tarNames(t, b)
		for _, n := range []string{"bin/busybox 0:0", "d/f 1000:1001", "etc/passwd 0:0", "x 0:0"} {
			if !contains(names, n) {
				t.Errorf("%s: no %q in the tar (%d entries)", what, n, len(names))
			}
		}
		for _, n := range names {
			if strings.HasPrefix(n, "proc/") && n != "proc/ 0:0" {
				t.Errorf("%s: holds %s", what, n)
				break
			}
		}
	}
	r := s.run("export", "c")
	if r.code != 0 {
		t.Fatalf("export c: %+v", r)
	}
	want("export c", []byte(r.stdout))
	f := filepath.Join(t.TempDir(), "c.tar")
	s.ok("export", "-o", f, "c")
	b, _ := os.ReadFile(f)
	want("export -o", b)
	s.ok("stop", "-t", "0", "c")
	r = s.run("export", "c")
	want("export of a stopped sandbox", []byte(r.stdout))
	// The tar is an image's root: docker-style import would take it.
	cmd := exec.Command("tar", "tf", "-")
	cmd.Stdin = strings.NewReader(r.stdout)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("tar tf: %v %s", err, out[:min(len(out), 200)])
	}
	s.fails(125, "no such sandbox", "export", "nosuch")
	ptmx, _, c := ptyRun(t, s, "export", "c")
	defer ptmx.Close()
	if err := c.Wait(); exitCode(err) != 125 {
		t.Errorf("export to a terminal: %v, want exit 125", err)
	}
	assertNoCpLeftovers(t, s)
}

// TestCpDockerAPI: docker cp and docker export through the API socket.
func TestCpDockerAPI(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	s.ok("run", "-d", "--name", "c", "busybox", "sh", "-c", cpScript+"; exec sleep 600")
	waitFor(t, "the sandbox's files", func() bool { return s.run("exec", "c", "test", "-e", "/ready").code == 0 })
	host, _ := s.service(t, "0")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in"), []byte("via docker\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "tree", "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree", "a", "b"), []byte("b\n"), 0o644)
	dockerOK(t, bin, host, "cp", filepath.Join(dir, "in"), "c:/in")
	dockerOK(t, bin, host, "cp", filepath.Join(dir, "tree"), "c:/d/")
	if out := s.ok("exec", "c", "cat", "/in", "/d/tree/a/b"); out != "via docker\nb\n" {
		t.Errorf("docker cp into the sandbox: %q", out)
	}
	dockerOK(t, bin, host, "cp", "c:/d", filepath.Join(dir, "out"))
	if b, err := os.ReadFile(filepath.Join(dir, "out", "sub", "g")); err != nil || string(b) != "deep\n" {
		t.Errorf("docker cp out: %q %v", b, err)
	}
	dockerOK(t, bin, host, "cp", "c:/d/f", filepath.Join(dir, "f"))
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "hi\n" {
		t.Errorf("docker cp of a file: %q", b)
	}
	r := docker(t, bin, host, "cp", "c:/d", "-")
	if names := tarNames(t, []byte(r.stdout)); r.code != 0 || !contains(names, "d/f 1000:1001") {
		t.Errorf("docker cp c:/d -: %v %+v", names, r.stderr)
	}
	dockerFails(t, bin, host, "No such container:path: c:/nonexistent", "cp", "c:/nonexistent", dir)
	// Escapes through the API are the engine's: resolved in the root.
	r = docker(t, bin, host, "cp", "c:/x"+filepath.Join(dir, "in"), filepath.Join(dir, "leak"))
	if r.code == 0 {
		t.Errorf("HOLE: docker cp read the host through /x: %+v", r)
	}
	r = docker(t, bin, host, "export", "c")
	if names := tarNames(t, []byte(r.stdout)); r.code != 0 || !contains(names, "bin/busybox 0:0") {
		t.Errorf("docker export: %d entries, %s", len(names), r.stderr)
	}
	s.ok("stop", "-t", "0", "c")
	dockerOK(t, bin, host, "cp", filepath.Join(dir, "in"), "c:/in2")
	dockerOK(t, bin, host, "cp", "c:/in2", filepath.Join(dir, "in2"))
	if b, _ := os.ReadFile(filepath.Join(dir, "in2")); string(b) != "via docker\n" {
		t.Errorf("docker cp with a stopped sandbox: %q", b)
	}
}

// TestCpVolume: a running sandbox's volumes are reached as the sandbox
// sees them.
func TestCpVolume(t *testing.T) {
	s := withImages(t, false)
	vol := t.TempDir()
	os.WriteFile(filepath.Join(vol, "old"), []byte("old\n"), 0o644)
	s.ok("run", "-d", "--name", "v", "-v", vol+":/vol", "busybox", "sleep", "600")
	in := filepath.Join(t.TempDir(), "new")
	os.WriteFile(in, []byte("new\n"), 0o644)
	s.ok("cp", in, "v:/vol/")
	if b, err := os.ReadFile(filepath.Join(vol, "new")); err != nil || string(b) != "new\n" {
		t.Errorf("cp into the volume: %q %v", b, err)
	}
	r := s.run("cp", "v:/vol/old", "-")
	if names := tarNames(t, []byte(r.stdout)); r.code != 0 || len(names) != 1 || !strings.HasPrefix(names[0], "old ") {
		t.Errorf("cp out of the volume: %v %+v", names, r.stderr)
	}
}
