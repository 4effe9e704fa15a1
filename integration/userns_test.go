//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"usandbox/userns"
)

// workspace is a directory of the test user's, as a CI checkout is.
func workspace(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func owner(t *testing.T, path string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

func parseMap(t *testing.T, s string) []userns.IDMap {
	t.Helper()
	m, err := userns.ParseIDMap(strings.NewReader(s))
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return m
}

// TestUsernsKeepID is the CI case: with --userns=keep-id the command runs
// as the user's own uid and gid, what it writes in a bind-mounted
// workspace belongs to the user on the host, and /etc/passwd and
// /etc/group know the user (as podman 4.3: name, home = working dir).
func TestUsernsKeepID(t *testing.T) {
	s := withImages(t, false)
	uid, gid := os.Getuid(), os.Getgid()
	name := os.Getenv("USER")
	src := workspace(t)
	out := s.ok("run", "--rm", "--userns=keep-id", "-v", src+":/src", "-w", "/src", "busybox", "sh", "-c",
		`id -u; id -g; id -un; touch f; mkdir d; echo "HOME=$HOME"; grep "^$(id -un):" /etc/passwd; grep "^$(id -gn):" /etc/group`)
	want := fmt.Sprintf("%d\n%d\n%s\nHOME=/src\n%s:*:%d:%d:", uid, gid, name, name, uid, gid)
	if !strings.HasPrefix(out, want) || !strings.Contains(out, ":/src:/bin/sh\n") || !strings.Contains(out, fmt.Sprintf(":x:%d:%s\n", gid, name)) {
		t.Fatalf("inside:\n%s\nwant it to start with\n%s", out, want)
	}
	for _, f := range []string{"f", "d"} {
		if u, g := owner(t, filepath.Join(src, f)); u != uint32(uid) || g != uint32(gid) {
			t.Fatalf("%s is owned by %d:%d on the host, want %d:%d", f, u, g, uid, gid)
		}
	}
	// The map: the user's own IDs at their own number, the sub-IDs
	// around them; root inside is the first sub-ID.
	full := ownMap(t, "/etc/subuid", uint32(uid))
	got := parseMap(t, s.ok("run", "--rm", "--userns=keep-id", "busybox", "cat", "/proc/self/uid_map"))
	for _, id := range []uint32{0, 1, uint32(uid) - 1, uint32(uid), uint32(uid) + 1, uint32(userns.Size(full)) - 1} {
		host, ok := userns.ToHost(got, id)
		var wantHost uint32
		switch {
		case id < uint32(uid):
			wantHost = mustHost(t, full, id+1)
		case id == uint32(uid):
			wantHost = uint32(uid)
		default:
			wantHost = mustHost(t, full, id)
		}
		if !ok || host != wantHost {
			t.Fatalf("uid %d inside is host %d (%v), want %d; map %v", id, host, ok, wantHost, got)
		}
	}
	if userns.Size(got) != userns.Size(full) {
		t.Fatalf("keep-id maps %d IDs, want %d: %v", userns.Size(got), userns.Size(full), got)
	}
	// -u wins over keep-id's user, and exec runs as the sandbox's user.
	if out := s.ok("run", "--rm", "--userns=keep-id", "-u", "0", "busybox", "id", "-u"); out != "0\n" {
		t.Fatalf("-u 0 with keep-id: %q", out)
	}
	id := strings.TrimSpace(s.ok("run", "-d", "--userns=keep-id", "busybox", "sleep", "60"))
	if out := s.ok("exec", id, "id", "-u"); out != fmt.Sprintf("%d\n", uid) {
		t.Fatalf("exec in a keep-id sandbox runs as %q, want %d", out, uid)
	}
	s.ok("rm", "-f", id)
	// The default network and -p work with the user not root inside (the
	// tap and the port driver's socket are made by the sandbox's root).
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("served as the user\n"), 0o644)
	os.Chmod(www, 0o755)
	port := freePort(t)
	id = strings.TrimSpace(s.ok("run", "-d", "--userns=keep-id", "-p", fmt.Sprintf("%d:8080", port), "-v", www+":/www:ro",
		"busybox", "httpd", "-f", "-p", "8080", "-h", "/www"))
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "served as the user\n" {
		t.Fatalf("published port of a keep-id sandbox: %q", body)
	}
	s.ok("rm", "-f", id)
	s.assertNoSandboxes()
}

// TestUsernsKeepIDUID: keep-id:uid=N,gid=N puts the user's own IDs at N.
func TestUsernsKeepIDUID(t *testing.T) {
	s := withImages(t, false)
	uid, gid := os.Getuid(), os.Getgid()
	src := workspace(t)
	out := s.ok("run", "--rm", "--userns=keep-id:uid=1000,gid=1000", "-v", src+":/src", "-w", "/src", "busybox", "sh", "-c",
		"id -u; id -g; touch f; awk '$1 == 1000 {print $1, $2, $3}' /proc/self/uid_map /proc/self/gid_map")
	if want := fmt.Sprintf("1000\n1000\n1000 %d 1\n1000 %d 1\n", uid, gid); out != want {
		t.Fatalf("inside: %q, want %q", out, want)
	}
	if u, g := owner(t, filepath.Join(src, "f")); u != uint32(uid) || g != uint32(gid) {
		t.Fatalf("f is owned by %d:%d, want %d:%d", u, g, uid, gid)
	}
	// A uid the image does not know gets podman's "container user" entry.
	out = s.ok("run", "--rm", "--userns=keep-id:uid=70000", "busybox", "sh", "-c", "id -u; grep ^70000: /etc/passwd")
	if want := fmt.Sprintf("70000\n70000:*:70000:%d:container user:/:/bin/sh\n", gid); out != want {
		t.Fatalf("keep-id:uid=70000: %q, want %q", out, want)
	}
	s.assertNoSandboxes()
}

// TestUsernsUIDMap: --uidmap/--gidmap CONTAINER:HOST:SIZE with HOST an
// index into the user's namespace (0: the user, 1…: sub-IDs); --uidmap
// alone stands for both, as podman.
func TestUsernsUIDMap(t *testing.T) {
	s := withImages(t, false)
	uid := os.Getuid()
	full := ownMap(t, "/etc/subuid", uint32(uid))
	src := workspace(t)
	out := s.ok("run", "--rm", "--uidmap", "0:1:1000", "--uidmap", "1000:0:1", "-v", src+":/src", "busybox", "sh", "-c",
		"touch /src/f && chown 1000:1000 /src/f && id -u && cat /proc/self/uid_map /proc/self/gid_map")
	lines := strings.SplitN(out, "\n", 2)
	if lines[0] != "0" {
		t.Fatalf("runs as %q, want root", lines[0])
	}
	want := []userns.IDMap{{ContainerID: 0, HostID: mustHost(t, full, 1), Size: 1000}, {ContainerID: 1000, HostID: uint32(uid), Size: 1}}
	if got := parseMap(t, lines[1]); len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[0] || got[3] != want[1] {
		t.Fatalf("maps inside %v, want %v twice", got, want)
	}
	if u, g := owner(t, filepath.Join(src, "f")); u != uint32(uid) || g != uint32(os.Getgid()) {
		t.Fatalf("f chowned to 1000 inside is %d:%d on the host, want the user", u, g)
	}
	// A map without gid 5 (tty): devpts goes without gid=5, as podman's.
	if out := s.ok("run", "--rm", "--uidmap", "0:0:1", "busybox", "cat", "/proc/self/gid_map"); len(parseMap(t, out)) != 1 {
		t.Fatalf("--uidmap 0:0:1: gid_map %q", out)
	}
	// --userns=host is the user's namespace: the default map.
	if got, def := s.ok("run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map"),
		s.ok("run", "--rm", "busybox", "cat", "/proc/self/uid_map"); got != def {
		t.Fatalf("--userns=host map %q, default %q", got, def)
	}
	s.assertNoSandboxes()
}

// TestUnshare: usandbox unshare runs a command in the store's user
// namespace, where the user can remove what sub-IDs own; the command's
// status comes back.
func TestUnshare(t *testing.T) {
	s := withImages(t, false)
	src := workspace(t)
	s.ok("run", "--rm", "-v", src+":/src", "busybox", "sh", "-c", "mkdir -p /src/d/e && touch /src/d/e/x && chown -R 1234:1234 /src/d && chmod 700 /src/d /src/d/e")
	if err := os.RemoveAll(filepath.Join(src, "d")); err == nil || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("a plain rm of sub-ID files: %v, want permission denied", err)
	}
	if out := s.ok("unshare", "sh", "-c", `id -u; stat -c %u "$0"; rm -rf "$0"`, filepath.Join(src, "d")); out != "0\n1234\n" {
		t.Fatalf("unshare: %q", out)
	}
	if _, err := os.Lstat(filepath.Join(src, "d")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("still there after unshare rm -rf: %v", err)
	}
	if r := s.run("unshare", "sh", "-c", "exit 7"); r.code != 7 || r.stderr != "" {
		t.Fatalf("exit status: %+v", r)
	}
	if out := s.ok("unshare", "printenv", "USANDBOX_ROOT"); out != s.root+"\n" {
		t.Fatalf("USANDBOX_ROOT=%q, want %s", out, s.root)
	}
	if out := s.ok("unshare", "cat", "/proc/self/uid_map"); !strings.HasPrefix(strings.Join(strings.Fields(out), " "), "0 "+strconv.Itoa(os.Getuid())+" 1 1 ") {
		t.Fatalf("unshare's map: %q", out)
	}
	s.fails(127, `exec: "no-such-command": executable file not found`, "unshare", "no-such-command")
	s.fails(126, "permission denied", "unshare", "/etc/passwd")
	c := s.cmd("unshare")
	c.Env = filterEnv(os.Environ(), "SHELL")
	out, _ := c.CombinedOutput()
	if code := c.ProcessState.ExitCode(); code != 125 || !strings.Contains(string(out), "no $SHELL specified") {
		t.Fatalf("unshare without SHELL: %d %q", code, out)
	}
}

func filterEnv(env []string, key string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, key+"=") {
			out = append(out, e)
		}
	}
	return out
}

// TestProcessFlags: --group-add, --ulimit, --shm-size, --tz, --device as
// podman 4.3 applies them.
func TestProcessFlags(t *testing.T) {
	s := withImages(t, false)
	if out := s.ok("run", "--rm", "--group-add", "1234", "--group-add", "nogroup", "busybox", "id", "-G"); out != "0 1234 65534\n" {
		t.Fatalf("--group-add: id -G %q", out)
	}
	if out := s.ok("run", "--rm", "--ulimit", "nofile=1000:2000", "--ulimit", "core=-1", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"); out != "1000\n2000\nunlimited\n" {
		t.Fatalf("--ulimit: %q", out)
	}
	if out := s.ok("run", "--rm", "busybox", "sh", "-c", "df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2"); out != "65536\n" {
		t.Fatalf("/dev/shm by default: %q KiB", out)
	}
	if out := s.ok("run", "--rm", "--shm-size", "128m", "busybox", "sh", "-c", "df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2"); out != "131072\n" {
		t.Fatalf("--shm-size 128m: %q KiB", out)
	}
	if _, err := os.Stat("/usr/share/zoneinfo/Europe/Paris"); err == nil {
		if out := s.ok("run", "--rm", "--tz", "Europe/Paris", "busybox", "date", "+%Z"); out != "CET\n" && out != "CEST\n" {
			t.Fatalf("--tz Europe/Paris: %q", out)
		}
	} else {
		t.Logf("the host has no tzdata: --tz Europe/Paris not tried")
	}
	host, err := os.ReadFile("/etc/localtime")
	if err != nil {
		t.Fatal(err)
	}
	if out := s.ok("run", "--rm", "--tz", "local", "busybox", "cat", "/etc/localtime"); out != string(host) {
		t.Fatal("--tz local: /etc/localtime inside is not the host's")
	}
	if out := s.ok("run", "--rm", "--device", "/dev/zero:/dev/myzero", "--device", "/dev/null:/dev/sub/null:rwm", "busybox", "sh", "-c",
		"head -c 3 /dev/myzero | od -An -c | tr -s ' '; echo x > /dev/sub/null && echo wrote"); out != " \\0 \\0 \\0\nwrote\n" {
		t.Fatalf("--device: %q", out)
	}
	s.assertNoSandboxes()
}

// unopenableDevice is a character device of the host that the test user
// can neither read nor write, or "".
func unopenableDevice() string {
	for _, p := range []string{"/dev/mem", "/dev/kmem", "/dev/port", "/dev/fuse", "/dev/vhost-net", "/dev/cpu_dma_latency"} {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR &&
			unix.Access(p, unix.R_OK) != nil && unix.Access(p, unix.W_OK) != nil {
			return p
		}
	}
	return ""
}

// TestUsernsBadInput: each bad flag is one line, 125, and no sandbox.
func TestUsernsBadInput(t *testing.T) {
	s := withImages(t, false)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--userns=bogus"}, `invalid --userns "bogus"`},
		{[]string{"--userns=keep-id:foo=1"}, `unknown option "foo=1"`},
		{[]string{"--userns=keep-id:uid=x"}, "uid must be a number"},
		{[]string{"--userns=host:x"}, "takes no options"},
		{[]string{"--userns=keep-id", "--uidmap", "0:0:1"}, "cannot be used together"},
		{[]string{"--uidmap", "0:1"}, "want CONTAINER-ID:HOST-ID:SIZE"},
		{[]string{"--uidmap", "a:1:1"}, `"a" is not a number`},
		{[]string{"--uidmap", "0:1:10", "--uidmap", "5:20:10"}, "map the same container IDs"},
		{[]string{"--uidmap", "0:0:100000000"}, "of your user namespace is not yours"},
		{[]string{"--uidmap", "0:1:1000"}, "it must map host ID 0 (you"},
		{[]string{"--gidmap", "0:0:1", "--uidmap", "0:5000000:1,1:0:1"}, "invalid --uidmap: ID 5000000"},
		{[]string{"--uidmap", "1:0:1"}, "must map container ID 0"},
		{[]string{"--group-add", "keep-groups"}, "keep-groups is not supported"},
		{[]string{"--gidmap", "0:0:1", "--group-add", "5"}, "setgroups is denied"},
		{[]string{"--group-add", "no-such-group"}, "--group-add no-such-group: no such group"},
		{[]string{"--ulimit", "bogus=1"}, "invalid ulimit type: bogus"},
		{[]string{"--ulimit", "nofile=2000:1000"}, "soft limit must be less than or equal to hard limit"},
		{[]string{"--ulimit", "nofile=1:4294967295000"}, "--ulimit nofile: the hard limit"},
		{[]string{"--shm-size", "abc"}, `invalid --shm-size "abc"`},
		{[]string{"--shm-size", "-1"}, `invalid --shm-size "-1"`},
		{[]string{"--tz", "Nowhere/Foo"}, "--tz Nowhere/Foo"},
		{[]string{"--tz", "../../etc/passwd"}, `invalid --tz "../../etc/passwd"`},
		{[]string{"--device", "/dev/no-such-device"}, "no such file or directory"},
		{[]string{"--device", "/etc/passwd:/dev/passwd"}, "not a device node"},
		{[]string{"--device", "/dev/null:/tmp/null"}, "the container path must be /dev/NAME"},
		{[]string{"--device", "/dev/null:/dev/n:r"}, "cannot restrict a device"},
		{[]string{"--device", "/dev/null:/dev/n:xyz"}, "invalid device mode"},
	}
	if d := unopenableDevice(); d != "" {
		tests = append(tests, struct {
			args []string
			want string
		}{[]string{"--device", d}, "you cannot open it"})
	} else {
		t.Logf("every candidate device is open to the test user: the refusal of an unopenable one is not tried")
	}
	for _, tt := range tests {
		for _, rm := range [][]string{{"--rm"}, nil} {
			args := append(append(append([]string{"run"}, rm...), tt.args...), "busybox", "true")
			s.fails(125, tt.want, args...)
			s.assertNoSandboxes()
		}
	}
}

// TestUsernsRecordChecked: a sandbox's own map is checked again at each
// start: a record edited to map the host's root, or IDs that are not the
// user's, does not start.
func TestUsernsRecordChecked(t *testing.T) {
	s := withImages(t, false)
	id := strings.TrimSpace(s.ok("create", "--userns=keep-id", "busybox", "id", "-u"))
	if out := s.ok("start", "-a", id); out != fmt.Sprintf("%d\n", os.Getuid()) {
		t.Fatalf("start -a: %q", out)
	}
	cfg := filepath.Join(s.root, "sandboxes", id, "config.json")
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"containerID":0,"hostID":0,"size":1}`,          // the host's root
		`{"containerID":0,"hostID":4000000000,"size":1}`, // nobody's
	} {
		var rec map[string]any
		if err := json.Unmarshal(orig, &rec); err != nil {
			t.Fatal(err)
		}
		var m any
		json.Unmarshal([]byte(bad), &m)
		rec["Spec"].(map[string]any)["uidMap"] = []any{m}
		b, _ := json.Marshal(rec)
		if err := os.WriteFile(cfg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r := s.run("start", "-a", id)
		if r.code != 125 || !strings.Contains(r.stderr, "not yours") || r.stdout != "" {
			t.Fatalf("start with uid map %s: %+v", bad, r)
		}
	}
	s.ok("rm", "-f", id)
}
