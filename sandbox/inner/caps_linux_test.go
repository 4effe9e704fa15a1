package inner

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
)

// limitCapabilities leaves exactly the kept capabilities in the bounding
// set, clears the inheritable and ambient sets and leaves the effective
// set alone. It runs on a thread of its own, whose capabilities die with
// it.
func TestLimitCapabilities(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("dropping from the bounding set needs CAP_SETPCAP (go test as root)")
	}
	before, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		// Something in the inheritable and ambient sets to clear.
		c, err := capability.NewPid2(0)
		if err == nil {
			err = c.Load()
		}
		if err == nil {
			c.Set(capability.INHERITABLE|capability.AMBIENT, capability.CAP_NET_RAW)
			err = c.Apply(capability.CAPS | capability.AMBS)
		}
		if err == nil {
			err = limitCapabilities([]string{"CHOWN", "cap_net_raw"})
		}
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		b, err := os.ReadFile("/proc/thread-self/status")
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		done <- string(b)
	}()
	status := <-done
	if strings.HasPrefix(status, "error: ") {
		t.Fatal(status)
	}
	want := map[string]string{
		"CapBnd": fmt.Sprintf("%016x", 1<<capability.CAP_CHOWN|1<<capability.CAP_NET_RAW),
		"CapInh": "0000000000000000",
		"CapAmb": "0000000000000000",
	}
	for _, line := range strings.Split(status, "\n") {
		k, v, _ := strings.Cut(line, ":\t")
		if w, ok := want[k]; ok && v != w {
			t.Errorf("%s %s, want %s", k, v, w)
		}
		if k == "CapEff" && !strings.Contains(string(before), line) {
			t.Errorf("CapEff %s: the effective set was cut too (before:\n%s)", v, before)
		}
	}
}
