//go:build integration

package integration

// What the TestOCI tests share: the OCI runtime binary they hand to
// podman and containerd, and the checks that a client left nothing behind.

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// ociRuntime is the OCI runtime binary the TestOCI tests drive through
// real clients: $USANDBOX_OCI_RUNTIME if set (/usr/sbin/runc, to check a
// test against runc), else the staged bin/usandbox-runc ($USANDBOX_RUNC,
// hack/integration.sh). `make build` builds usandbox-runc, so its absence
// is a failure, not a skip.
func ociRuntime(t *testing.T) string {
	t.Helper()
	rt := os.Getenv("USANDBOX_OCI_RUNTIME")
	if rt == "" {
		rt = env.runc
	}
	if rt == "" {
		t.Fatal("no OCI runtime to test: bin/usandbox-runc was not staged (make build-tests builds it) and USANDBOX_OCI_RUNTIME is unset (e.g. /usr/sbin/runc)")
	}
	fi, err := os.Stat(rt)
	if err != nil {
		t.Fatalf("OCI runtime: %v", err)
	}
	if fi.Mode()&0o111 == 0 || fi.IsDir() {
		t.Fatalf("OCI runtime %s is not an executable file", rt)
	}
	t.Logf("OCI runtime: %s", rt)
	return rt
}

// liveProcesses maps our running descendants (see ourProcesses; zombies
// have an empty cmdline and are left out) to their cmdline.
func liveProcesses() map[int]string {
	out := map[int]string{}
	for _, pid := range ourProcesses() {
		if c := cmdline(pid); c != "" {
			out[pid] = c
		}
	}
	return out
}

// assertNoNewProcesses fails for each descendant running now that was not
// running (with the same cmdline) in before: the test process is a child
// subreaper, so a daemon, shim, conmon or pause process a client left
// behind is among them.
func assertNoNewProcesses(t *testing.T, before map[int]string) {
	t.Helper()
	for pid, c := range liveProcesses() {
		if before[pid] != c {
			t.Errorf("process %d left running: %s", pid, strings.ReplaceAll(c, "\x00", " "))
		}
	}
}

// assertNoMountsUnder fails for each mount of this mount namespace at or
// below dir.
func assertNoMountsUnder(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint ...; spaces in the
		// mount point are octal-escaped (\040).
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && (fs[4] == dir || strings.HasPrefix(fs[4], dir+"/")) {
			t.Errorf("mount left behind: %s", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
