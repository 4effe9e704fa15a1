package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/internal/role"
)

// SelfProbes returns probes that run this binary again in a user namespace
// with a single-ID map, which any user may write (no helper needed).
func SelfProbes(storeRoot string) Probes {
	return Probes{
		UserNS: func() error { return probe(unix.CLONE_NEWUSER, "userns") },
		Overlay: func(dir string) error {
			return probe(unix.CLONE_NEWUSER|unix.CLONE_NEWNS, "overlay", existingAncestor(dir))
		},
		StoreRoot: storeRoot,
	}
}

func existingAncestor(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && unix.Access(d, unix.W_OK) == nil {
			return d
		}
		if d == "/" || d == "." {
			return os.TempDir()
		}
	}
}

func probe(flags uintptr, args ...string) error {
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = "usandbox-probe"
	cmd.Env = append(os.Environ(), role.Probe.EnvEntry())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	if os.Getuid() == 0 {
		// Root's own map would be the full range; one ID is enough here.
		cmd.SysProcAttr.UidMappings[0].HostID = 0
	}
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return errors.New(msg)
		}
		return err
	}
	return nil
}

// ProbeMain is the probe process (role Probe): args are its arguments. It
// returns the exit status and prints a failure on stderr.
func ProbeMain(args []string) int {
	if err := probeMain(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func probeMain(args []string) error {
	if len(args) == 0 {
		return errors.New("no probe named")
	}
	switch args[0] {
	case "userns":
		return nil
	case "overlay":
		if len(args) != 2 {
			return errors.New("overlay probe needs a directory")
		}
		return overlayProbe(args[1])
	}
	return fmt.Errorf("unknown probe %q", args[0])
}

func overlayProbe(parent string) error {
	dir, err := os.MkdirTemp(parent, ".usandbox-overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work,userxattr", dir, dir, dir)
	if err := unix.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount -t overlay: %w", err)
	}
	defer unix.Unmount(filepath.Join(dir, "merged"), unix.MNT_DETACH)
	return os.WriteFile(filepath.Join(dir, "merged", "probe"), []byte("ok"), 0o644)
}
