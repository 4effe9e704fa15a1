package link

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAttachChildUserns is the holder's real case: the member's network
// namespace is owned by a user namespace that is a child of ours (here
// made by unshare(1), as nsexec makes a member's).
func TestAttachChildUserns(t *testing.T) {
	brNS := newNS(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1) to make a child user namespace")
	}
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--net", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// unshare execs sleep once its namespaces are made.
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Skip("unshare --user --map-root-user --net did not start (no user namespaces here?)")
		}
	}
	mine, _ := os.Readlink("/proc/self/ns/user")
	theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	if mine == theirs {
		t.Fatal("the child is in our user namespace")
	}
	child, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()

	if err := SetupBridge(brNS, bridge); err != nil {
		t.Fatal(err)
	}
	a := newNS(t)
	if _, err := Attach(brNS, a, attachCfg("vplain", "10.89.0.2")); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(brNS, child, attachCfg("vchild", "10.89.0.3")); err != nil {
		t.Fatalf("attach into a child user namespace's netns: %v", err)
	}
	listenIn(t, child, "10.89.0.3:8083")
	got, err := dialIn(a, "10.89.0.3:8083")
	if err != nil {
		t.Fatalf("member cannot reach the child-userns member: %v", err)
	}
	if got != "you are 10.89.0.2\n" {
		t.Errorf("child-userns member saw %q, want 10.89.0.2", got)
	}
	if err := Detach(brNS, "vchild"); err != nil {
		t.Fatal(err)
	}
}
