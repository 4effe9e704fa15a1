package network

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"usandbox/sandbox/spec"
)

// SetupConfigured is Setup for a sandbox in whose user namespace the user
// is not root (--userns=keep-id, --uidmap): slirp4netns makes and
// configures its tap itself (--configure), as podman runs it. rootlesskit's
// driver makes the tap with "nsenter --preserve-credentials ip tuntap",
// which, with the user's own ID not root inside, runs ip with no
// capability there. pasta enters the namespaces itself: Setup's.
func SetupConfigured(o Options, pid int, stateDir string, log io.Writer) (*Network, error) {
	if o.Mode != Slirp4netns {
		return Setup(o, pid, stateDir, log)
	}
	if log == nil {
		log = io.Discard
	}
	bin, err := exec.LookPath("slirp4netns")
	if err != nil {
		return nil, fmt.Errorf("--network slirp4netns: %w", err)
	}
	cidr := o.CIDR
	if cidr == nil {
		cidr = DefaultCIDR
	}
	mtu := o.MTU
	if mtu == 0 {
		mtu = 65520
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	args := []string{"--configure", "--mtu", strconv.Itoa(mtu), "--cidr", cidr.String(), "-r", "3",
		"--enable-sandbox", "--enable-seccomp"}
	if !o.AllowHostLoopback {
		args = append(args, "--disable-host-loopback")
	}
	args = append(args, strconv.Itoa(pid), "tap0")
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("--network slirp4netns: %w", err)
	}
	n := &Network{cleanups: []func() error{func() error {
		_ = cmd.Process.Kill() // it may have exited: Wait says nothing of use either way
		_ = cmd.Wait()
		return nil
	}}}
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = errors.New("timed out")
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("--network slirp4netns: waiting for slirp4netns to configure the sandbox's interface: %v (run with USANDBOX_DEBUG=1 to see its output)", err)
	}
	o.CIDR = cidr
	ip, gw := o.Addr(100).String(), o.Addr(2).String()
	ones, _ := cidr.Mask.Size()
	// Configured already: the init leaves the interface alone.
	n.cfg = spec.NetConfig{Dev: "tap0", IP: ip, Netmask: ones, Gateway: gw, MTU: mtu}
	n.setBypass(o)
	return n, nil
}
