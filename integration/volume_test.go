//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// volumes are the volume names the store lists.
func (s *store) volumes() []string {
	s.t.Helper()
	return strings.Fields(s.ok("volume", "ls", "-q"))
}

func (s *store) assertVolumes(want ...string) {
	s.t.Helper()
	got := s.volumes()
	sort.Strings(want)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		s.t.Fatalf("volumes: %q, want %q", got, want)
	}
}

// volumeImage builds an image of busybox with the volume-data fixture
// (/data with owners and modes) and VOLUME /data, pulled as "oci".
func volumeImage(t *testing.T, s *store) {
	t.Helper()
	ref := mkimage(t, "-cmd", `["sh"]`, "-volume", "/data",
		"-layer-dir", filepath.Join(env.cache, "rootfs", "busybox"), "-layer-fixtures", "volume-data")
	s.ok("pull", "-q", ref)
}

// hostID is the host uid (or gid) that id inside a sandbox maps to, read
// from the sandbox's /proc/self/uid_map (or gid_map).
func hostID(t *testing.T, s *store, file string, id int) int {
	t.Helper()
	out := s.ok("run", "--rm", "busybox", "cat", "/proc/self/"+file)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		in, _ := strconv.Atoi(f[0])
		host, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[2])
		if id >= in && id < in+n {
			return host + id - in
		}
	}
	t.Fatalf("%d is not mapped: %s", id, out)
	return -1
}

func statOwner(t *testing.T, p string) (uid, gid int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Uid), int(st.Gid)
}

// A named volume keeps its files from one sandbox to the next; volume
// create, ls, inspect, exists print what podman 4.3 prints.
func TestVolumeNamedPersists(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("volume", "create", "data1"); out != "data1\n" {
		t.Fatalf("volume create: %q", out)
	}
	s.ok("run", "--rm", "-v", "data1:/d", "busybox", "sh", "-c", "echo hello > /d/f")
	if out := s.ok("run", "--rm", "-v", "data1:/d:ro", "busybox", "cat", "/d/f"); out != "hello\n" {
		t.Fatalf("second sandbox read %q", out)
	}
	// Created on first use, as podman does.
	s.ok("run", "--rm", "-v", "auto1:/d", "busybox", "true")
	s.ok("volume", "create", "--label", "a=b", "--label", "c", "lab")
	if out := s.ok("volume", "ls"); out != "DRIVER      VOLUME NAME\nlocal       auto1\nlocal       data1\nlocal       lab\n" {
		t.Fatalf("volume ls:\n%s", out)
	}
	if out := s.ok("volume", "ls", "-q", "--filter", "label=a=b"); out != "lab\n" {
		t.Fatalf("label filter: %q", out)
	}
	if out := s.ok("volume", "ls", "-q", "--filter", "name=^da"); out != "data1\n" {
		t.Fatalf("name filter: %q", out)
	}
	if out := s.ok("volume", "ls", "--noheading", "--filter", "label=c"); out != "local       lab\n" {
		t.Fatalf("noheading: %q", out)
	}
	var vols []map[string]any
	if err := json.Unmarshal([]byte(s.ok("volume", "inspect", "lab", "data1")), &vols); err != nil || len(vols) != 2 {
		t.Fatalf("volume inspect: %v %v", vols, err)
	}
	// podman 4.3's keys, less NeedsChown (usandbox does not chown a new
	// volume to the command's user: only U does).
	var keys []string
	for k := range vols[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"CreatedAt", "Driver", "Labels", "MountCount", "Mountpoint", "Name", "NeedsCopyUp", "Options", "Scope"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("inspect keys %q, want %q", keys, want)
	}
	if v := vols[0]; v["Name"] != "lab" || v["Driver"] != "local" || v["Scope"] != "local" ||
		v["Mountpoint"] != filepath.Join(s.root, "volumes", "lab", "_data") ||
		!reflect.DeepEqual(v["Labels"], map[string]any{"a": "b", "c": ""}) {
		t.Fatalf("inspect: %v", v)
	}
	s.ok("volume", "exists", "data1")
	if r := s.run("volume", "exists", "nosuch"); r.code != 1 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("exists nosuch: %+v", r)
	}
	r := s.fails(125, "no such volume nosuch", "volume", "inspect", "nosuch")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("inspect nosuch printed %q", r.stdout)
	}
	s.fails(125, "already exists", "volume", "create", "data1")
	s.fails(125, "names must match", "volume", "create", "bad/name")
	s.fails(125, "names must match", "run", "--rm", "-v", "bad?name:/d", "busybox", "true")
	s.fails(1, `no volume with name "nosuch" found`, "volume", "rm", "nosuch")
	if out := s.ok("volume", "rm", "auto1", "lab"); out != "auto1\nlab\n" {
		t.Fatalf("volume rm: %q", out)
	}
	s.assertVolumes("data1")
	// A volume name is never a path: the data stays in the store.
	if b, err := os.ReadFile(filepath.Join(s.root, "volumes", "data1", "_data", "f")); err != nil || string(b) != "hello\n" {
		t.Fatalf("data1's file on the host: %q %v", b, err)
	}
}

// An anonymous volume (-v /path) and the image's VOLUME are new volumes
// filled from the image: owners, modes and symlinks kept. rm -v and --rm
// remove them, rm alone keeps them (as podman), named volumes stay.
func TestVolumeAnonymousCopyUp(t *testing.T) {
	s := withImages(t, false)
	volumeImage(t, s)
	out := s.ok("run", "--name", "c1", "oci", "sh", "-c",
		"stat -c '%n %u:%g %a %F' /data /data/file.txt /data/owned-65534.txt /data/sub /data/sub/deep.txt /data/link; readlink /data/link; cat /data/file.txt")
	want := "/data 1000:1000 750 directory\n" +
		"/data/file.txt 1000:1000 640 regular file\n" +
		"/data/owned-65534.txt 65534:65534 600 regular file\n" +
		"/data/sub 0:0 700 directory\n" +
		"/data/sub/deep.txt 0:0 644 regular file\n" +
		"/data/link 0:0 777 symbolic link\n" +
		"file.txt\nfrom-image\n"
	if out != want {
		t.Fatalf("copied up:\n%s\nwant:\n%s", out, want)
	}
	vols := s.volumes()
	if len(vols) != 1 || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(vols[0]) {
		t.Fatalf("anonymous volume: %q", vols)
	}
	in := s.inspect("c1")
	if len(in.Mounts) != 1 || in.Mounts[0].Type != "volume" || in.Mounts[0].Destination != "/data" ||
		in.Mounts[0].Source != filepath.Join(s.root, "volumes", vols[0], "_data") {
		t.Fatalf("inspect Mounts: %+v", in.Mounts)
	}
	// On the host the copy belongs to the sub-IDs the image's owners map to.
	// (/data is 0750 there: the user may look at it, not into it.)
	if uid, _ := statOwner(t, filepath.Join(s.root, "volumes", vols[0], "_data")); uid != hostID(t, s, "uid_map", 1000) {
		t.Fatalf("the volume's root on the host is uid %d", uid)
	}
	// The copy-up happens once: the volume is the sandbox's from then on.
	s.ok("start", "-a", "c1") // runs the stat again, same result
	s.ok("rm", "-v", "c1")
	s.assertVolumes()

	// -v /path: anonymous too. rm without -v keeps it; prune removes it.
	s.ok("run", "--name", "a1", "-v", "/anon", "busybox", "sh", "-c", "echo hi > /anon/x")
	anon := s.volumes()
	if len(anon) != 1 {
		t.Fatalf("-v /anon: %q", anon)
	}
	s.ok("rm", "a1")
	s.assertVolumes(anon...)
	if out := s.ok("volume", "prune", "-f"); out != anon[0]+"\n" {
		t.Fatalf("prune: %q", out)
	}
	s.assertVolumes()

	// --rm removes the anonymous volumes, foreground and detached.
	s.ok("run", "--rm", "oci", "true")
	s.ok("run", "--rm", "-v", "/anon", "busybox", "true")
	s.assertVolumes()
	s.ok("run", "--rm", "-d", "oci", "true")
	waitFor(t, "the detached --rm sandbox and its volume to go", func() bool {
		return len(s.sandboxes()) == 0 && len(s.volumes()) == 0
	})
	// Gone for good, not only out of the list (the removal of files of
	// the image's IDs takes the user namespace).
	if ents, _ := os.ReadDir(filepath.Join(s.root, "volumes")); len(ents) != 0 {
		waitFor(t, "the detached --rm sandbox's volume directory to go", func() bool {
			ents, _ := os.ReadDir(filepath.Join(s.root, "volumes"))
			return len(ents) == 0
		})
	}

	// A named volume over the VOLUME: filled once, then kept as it is.
	s.ok("run", "--rm", "-v", "nv:/data", "oci", "sh", "-c", "cat /data/file.txt; rm /data/file.txt; echo new > /data/new")
	if out := s.ok("run", "--rm", "-v", "nv:/data", "oci", "ls", "/data"); out != "link\nnew\nowned-65534.txt\nsub\n" {
		t.Fatalf("second mount of nv: %q", out)
	}
	// nocopy: left empty.
	if out := s.ok("run", "--rm", "-v", "nc:/data:nocopy", "oci", "ls", "-A", "/data"); out != "" {
		t.Fatalf("nocopy volume holds %q", out)
	}
	s.assertVolumes("nc", "nv")
}

// A symlink of the image at or under a VOLUME path that points out of
// the root never makes the copy-up read or write outside it: the path is
// resolved inside the root, a symlink below it is copied as a symlink.
func TestVolumeCopyUpSymlinkAttack(t *testing.T) {
	s := withImages(t, false)
	outside := t.TempDir()
	token := "secret-" + randomToken(t)
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte(token), 0o644); err != nil {
		t.Fatal(err)
	}
	layer := t.TempDir()
	up := "/../../../../../../.." + outside
	for _, l := range [][2]string{
		{up, "escape"},                         // the VOLUME itself points out
		{up + "/secret", "vol2/hostfile"},      // a file below it does
		{up, "vol2/hostdir"},                   // a directory below it does
		{"../../../../../../../..", "vol2/up"}, // ".." all the way
	} {
		os.MkdirAll(filepath.Join(layer, filepath.Dir(l[1])), 0o755)
		if err := os.Symlink(l[0], filepath.Join(layer, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(layer, "vol2", "plain"), []byte("plain\n"), 0o644)
	ref := mkimage(t, "-cmd", `["sh"]`, "-volume", "/escape", "-volume", "/vol2",
		"-layer-dir", filepath.Join(env.cache, "rootfs", "busybox"), "-layer-dir", layer)
	s.ok("pull", "-q", ref)
	out := s.ok("run", "--rm", "-v", "esc:/escape", "-v", "v2:/vol2", "oci", "sh", "-c",
		"ls -A /escape; echo --; ls -A /vol2; cat /vol2/plain; readlink /vol2/hostfile; cat /vol2/hostfile 2>/dev/null || echo unreadable")
	if want := "--\nhostdir\nhostfile\nplain\nup\nplain\n" + up + "/secret\nunreadable\n"; out != want {
		t.Fatalf("sandbox saw:\n%s\nwant:\n%s", out, want)
	}
	// Nothing of the host came into the volumes, nothing went out.
	filepath.WalkDir(filepath.Join(s.root, "volumes"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(token)) {
				t.Errorf("the host's secret was copied into %s", p)
			}
		}
		return nil
	})
	if fi, err := os.Lstat(filepath.Join(s.root, "volumes", "v2", "_data", "hostfile")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("hostfile in the volume is not a symlink: %v %v", fi, err)
	}
	assertOnly(t, outside, "secret")
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != token {
		t.Fatalf("the host's file changed: %q", b)
	}
}

// volume rm of a volume a sandbox uses (created or running) is refused
// with podman's status 2; -f removes those sandboxes first.
func TestVolumeRmInUse(t *testing.T) {
	s := withImages(t, false)
	s.ok("create", "--name", "holder", "-v", "u1:/d", "busybox", "true")
	r := s.fails(2, "volume u1 is being used by the following sandbox(es)", "volume", "rm", "u1")
	if r.stdout != "" {
		t.Fatalf("stdout: %q", r.stdout)
	}
	if out := s.ok("volume", "prune", "-f"); out != "" {
		t.Fatalf("prune removed a volume in use: %q", out)
	}
	s.assertVolumes("u1")
	s.ok("run", "-d", "--name", "runner", "-v", "u2:/d", "busybox", "sleep", "100")
	s.fails(2, "is being used", "volume", "rm", "u2")
	if out := s.ok("volume", "rm", "-f", "u1", "u2"); out != "u1\nu2\n" {
		t.Fatalf("volume rm -f: %q", out)
	}
	s.assertVolumes()
	if out := s.ok("ps", "-aq"); out != "" {
		t.Fatalf("sandboxes left: %q", out)
	}
}

// --mount, docker's long form, and bad mounts: one line, 125, nothing
// left (no sandbox, no volume).
func TestVolumeMountFlag(t *testing.T) {
	s := withImages(t, false)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("bound\n"), 0o644)
	out := s.ok("run", "--rm",
		"--mount", "type=volume,src=m1,dst=/v",
		"--mount", "type=bind,source="+dir+",target=/b,readonly",
		"--mount", "type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=0700",
		"--mount", "type=volume,dst=/anon",
		"busybox", "sh", "-c", "echo m > /v/x; cat /b/f; touch /b/no 2>/dev/null && echo wrote; stat -c %a /t; grep -o ' /t tmpfs [^ ]*' /proc/mounts")
	if !strings.HasPrefix(out, "bound\n700\n /t tmpfs rw,nosuid,nodev,") || !strings.Contains(out, "size=1024k") || !strings.Contains(out, "mode=700") {
		t.Fatalf("--mount: %q", out)
	}
	s.assertVolumes("m1")
	for _, bad := range []struct{ want, mount string }{
		{`invalid mount type "foo"`, "type=foo,dst=/d"},
		{"incorrect mount format", "src=nv1,dst=/d"},
		{"invalid volume name", "type=volume,src=bad/x,dst=/d"},
		{"source is not supported with tmpfs", "type=tmpfs,src=/x,dst=/d"},
		{`unknown option "badopt"`, "type=volume,src=nv2,dst=/d,badopt=1"},
		{"bind-propagation=rshared", "type=bind,src=/tmp,dst=/d,bind-propagation=rshared"},
		{"a target", "type=volume,src=nv3"},
		{"tmpfs-size", "type=tmpfs,dst=/d,tmpfs-size=lots"},
		{"/nonexistent-xyz", "type=bind,src=/nonexistent-xyz,dst=/d"},
		{"/proc is the sandbox's own", "type=volume,src=nv4,dst=/proc/x"},
	} {
		s.fails(125, bad.want, "run", "--rm", "--mount", bad.mount, "busybox", "true")
	}
	s.fails(125, "Duplicate mount point", "run", "--rm", "-v", "nv5:/d", "--mount", "type=volume,src=nv6,dst=/d", "busybox", "true")
	s.fails(125, "unknown option", "run", "--rm", "-v", "nv7:/d:bogus", "busybox", "true")
	// A sandbox whose command never ran leaves no volume either.
	if r := s.run("run", "-v", "nv8:/d", "-v", "/anon", "busybox", "/nonexistent"); r.code != 127 {
		t.Fatalf("run of a missing command: %+v", r)
	}
	s.assertVolumes("m1")
	s.assertNoSandboxes()
}

// --volumes-from lends a sandbox's volumes and binds, ro or as they are;
// rm -v of the lender removes its anonymous volume, the named one stays.
func TestVolumesFrom(t *testing.T) {
	s := withImages(t, false)
	dir := t.TempDir()
	s.ok("run", "--name", "lender", "-v", "vf:/shared", "-v", "/anon", "-v", dir+":/bind", "busybox", "sh", "-c",
		"echo x > /shared/f; echo y > /anon/g; echo z > /bind/h")
	if out := s.ok("run", "--rm", "--volumes-from", "lender", "busybox", "sh", "-c", "cat /shared/f /anon/g /bind/h; echo w > /shared/w"); out != "x\ny\nz\n" {
		t.Fatalf("borrowed: %q", out)
	}
	if r := s.run("run", "--rm", "--volumes-from", "lender:ro", "busybox", "touch", "/shared/ro"); r.code == 0 {
		t.Fatalf("--volumes-from :ro wrote: %+v", r)
	}
	// A borrower's --rm leaves the lender's anonymous volume alone.
	if len(s.volumes()) != 2 {
		t.Fatalf("volumes: %q", s.volumes())
	}
	s.fails(125, "--volumes-from nosuch", "run", "--rm", "--volumes-from", "nosuch", "busybox", "true")
	s.fails(125, "--volumes-from", "run", "--rm", "--volumes-from", "lender:rx", "busybox", "true")
	s.ok("rm", "-v", "lender")
	s.assertVolumes("vf")
	s.assertNoSandboxes()
}

// U chowns the source, recursively, to the command's user: seen as that
// user inside, as the sub-ID it maps to on the host.
func TestVolumeChownU(t *testing.T) {
	s := withImages(t, false)
	uid, gid := hostID(t, s, "uid_map", 1000), hostID(t, s, "gid_map", 1000)
	out := s.ok("run", "--rm", "-u", "1000:1000", "-v", "cu:/d:U", "busybox", "sh", "-c", "mkdir /d/sub && touch /d/sub/mine && stat -c %u:%g /d /d/sub/mine")
	if out != "1000:1000\n1000:1000\n" {
		t.Fatalf("inside: %q", out)
	}
	data := filepath.Join(s.root, "volumes", "cu", "_data")
	for _, p := range []string{data, filepath.Join(data, "sub", "mine")} {
		if u, g := statOwner(t, p); u != uid || g != gid {
			t.Fatalf("%s on the host: %d:%d, want %d:%d", p, u, g, uid, gid)
		}
	}
	// A host directory too (podman's U), given back to the user after.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "f"), nil, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	if out := s.ok("run", "--rm", "-u", "1000:1000", "-v", dir+":/b:U", "busybox", "stat", "-c", "%u:%g", "/b/a/f"); out != "1000:1000\n" {
		t.Fatalf("bind inside: %q", out)
	}
	if u, _ := statOwner(t, filepath.Join(dir, "a", "f")); u != uid {
		t.Fatalf("bind on the host: uid %d, want %d", u, uid)
	}
	if u, _ := statOwner(t, "/etc/passwd"); u != 0 {
		t.Fatalf("U followed a symlink to /etc/passwd")
	}
	s.ok("run", "--rm", "-v", dir+":/b:U", "busybox", "true") // root inside: the user again
	if u, _ := statOwner(t, filepath.Join(dir, "a", "f")); u != os.Getuid() {
		t.Fatalf("bind given back: uid %d", u)
	}
}

// O (podman's overlay volume): the sandbox writes to a layer of its own
// over the host directory, which never changes; each start begins again
// from the directory as it is.
func TestVolumeOverlayO(t *testing.T) {
	s := withImages(t, false)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("host\n"), 0o644)
	out := s.ok("run", "--name", "ov", "-v", dir+":/o:O", "busybox", "sh", "-c", "cat /o/f; echo sandbox > /o/f; echo new > /o/new; rm -f /o/gone; cat /o/f; ls /o")
	if out != "host\nsandbox\nf\nnew\n" {
		t.Fatalf("inside: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "host\n" {
		t.Fatalf("the host's file changed: %q", b)
	}
	assertOnly(t, dir, "f")
	if out := s.ok("start", "-a", "ov"); out != "host\nsandbox\nf\nnew\n" {
		t.Fatalf("second start did not begin again from the host's directory: %q", out)
	}
	s.ok("rm", "ov")
	// --rm, foreground and detached: the layer, which holds files of the
	// sandbox's other IDs, goes with the sandbox, silently.
	os.Chmod(dir, 0o777)
	script := "mkdir /o/d && chown 1000 /o/d && chmod 700 /o/d && touch /o/d/y && chown 1000 /o/d/y"
	if r := s.run("run", "--rm", "-v", dir+":/o:O", "busybox", "sh", "-c", script); r.code != 0 || r.stderr != "" {
		t.Fatalf("run --rm with O: %+v", r)
	}
	s.ok("run", "--rm", "-d", "-v", dir+":/o:O", "busybox", "sh", "-c", script)
	waitFor(t, "the detached --rm sandbox to go", func() bool { return len(s.sandboxes()) == 0 })
	assertOnly(t, dir, "f")
	s.fails(125, "O is only for host directories", "run", "--rm", "-v", "named:/o:O", "busybox", "true")
	s.assertVolumes()
	s.assertNoSandboxes()
}

// TestVolumeFormat: volume ls and volume inspect take Go templates, the
// table directive and json, as podman's do.
func TestVolumeFormat(t *testing.T) {
	s := withImages(t, false)
	s.ok("volume", "create", "--label", "k=v", "vf1")
	if out := s.ok("volume", "ls", "--format", "{{.Name}} {{.Driver}}"); out != "vf1 local\n" {
		t.Fatalf("volume ls --format: %q", out)
	}
	out := s.ok("volume", "ls", "--format", "table {{.Name}}\t{{.Driver}}")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "VOLUME NAME DRIVER" || strings.Join(strings.Fields(lines[1]), " ") != "vf1 local" {
		t.Fatalf("volume ls table: %q", out)
	}
	if out := s.ok("volume", "inspect", "--format", "{{.Name}} {{.Scope}} {{index .Labels \"k\"}}", "vf1"); out != "vf1 local v\n" {
		t.Fatalf("volume inspect --format: %q", out)
	}
	s.fails(125, "Nope", "volume", "ls", "--format", "{{.Nope}}")
	s.fails(125, "unclosed action", "volume", "inspect", "--format", "{{.Name", "vf1")
}
