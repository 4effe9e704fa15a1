package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v3"

	"usandbox/cgroupv2"
	"usandbox/internal/cliutil"
	"usandbox/internal/trace"
	"usandbox/network"
	"usandbox/sandbox"
	"usandbox/storage/index"
	"usandbox/userns"
)

func runCommand() *cli.Command {
	one := 1
	return &cli.Command{
		Name:      "run",
		Usage:     "run a command in a new sandbox",
		ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		// Everything after the image belongs to the command.
		StopOnNthArg: &one,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "rm", Usage: "remove the sandbox when it exits"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the sandbox ID"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin attached"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal"},
			&cli.StringFlag{Name: "name", Usage: "name the sandbox"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set KEY=VALUE (or pass KEY from this environment)"},
			&cli.StringSliceFlag{Name: "env-file", Usage: "read environment variables from a file"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the sandbox"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group], names or numbers"},
			&cli.StringFlag{Name: "hostname", Aliases: []string{"h"}, Usage: "the sandbox's hostname"},
			&cli.StringFlag{Name: "entrypoint", Usage: "override the image's entrypoint (\"\" clears it)"},
			&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind HOST-PATH:CONTAINER-PATH[:ro]"},
			&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs at PATH[:OPTIONS]"},
			&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Usage: "slirp4netns[:mtu=N,cidr=A.B.C.D/N,allow_host_loopback=true] (default when installed), pasta[:…], none or host"},
			&cli.StringSliceFlag{Name: "dns", Usage: "use this name server (an IP address; repeatable) instead of the network's forwarder or the host's"},
			&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish [HOST-IP:][HOST-PORT:]CONTAINER-PORT[/tcp|/udp]"},
			&cli.BoolFlag{Name: "read-only", Usage: "mount the root filesystem read-only"},
			&cli.StringSliceFlag{Name: "security-opt", Usage: "no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json (docker's format; default: docker's profile)"},
			&cli.BoolFlag{Name: "privileged", Usage: "every capability in the sandbox's user namespace, no seccomp, no masked or read-only paths, the host's devices you can open"},
			&cli.StringSliceFlag{Name: "cap-add", Usage: "add a capability (or ALL)"},
			&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a capability (or ALL)"},
			&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (512m, 1g, bytes)"},
			&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit (-1: unlimited swap)"},
			&cli.StringFlag{Name: "cpus", Usage: "CPU limit (1.5: one and a half CPUs)"},
			&cli.IntFlag{Name: "cpu-shares", Aliases: []string{"c"}, Usage: "relative CPU weight, docker's scale (1024 default)"},
			&cli.IntFlag{Name: "cpu-weight", Usage: "relative CPU weight, cgroup v2's scale (1-10000, 100 default)"},
			&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-2,4)"},
			&cli.IntFlag{Name: "pids-limit", Usage: "most processes and threads at once"},
			&cli.BoolFlag{Name: "init", Usage: "run an init as pid 1 (always on: usandbox's init forwards signals and reaps zombies)"},
		},
		Action: runAction,
	}
}

func runAction(ctx context.Context, cmd *cli.Command) error {
	trace.Mark("cli", "flags parsed")
	if cmd.NArg() < 1 {
		return cliutil.UsageError(cmd, "run needs an image")
	}
	args := cmd.Args().Slice()
	o := sandbox.Options{
		Name:       cmd.String("name"),
		ImageRef:   args[0],
		Args:       args[1:],
		Workdir:    cmd.String("workdir"),
		User:       cmd.String("user"),
		Hostname:   cmd.String("hostname"),
		ReadOnly:   cmd.Bool("read-only"),
		CapAdd:     cmd.StringSlice("cap-add"),
		CapDrop:    cmd.StringSlice("cap-drop"),
		TTY:        cmd.Bool("tty"),
		AutoRemove: cmd.Bool("rm"),
		Detached:   cmd.Bool("detach"),
	}
	interactive := cmd.Bool("interactive")
	if cmd.IsSet("entrypoint") {
		ep := cmd.String("entrypoint")
		o.Entrypoint = &ep
	}
	netw := cmd.String("network")
	if netw == "" {
		netw = network.None
		// As real root there is no user namespace for the drivers to join.
		if _, err := exec.LookPath(network.Slirp4netns); err == nil && os.Geteuid() != 0 {
			netw = network.Slirp4netns
		}
	}
	var err error
	if o.Network, err = network.ParseNetwork(netw); err != nil {
		return cliutil.UsageError(cmd, "%v", err)
	}
	o.NetworkRaw = netw
	for _, d := range cmd.StringSlice("dns") {
		ip := net.ParseIP(d)
		if ip == nil {
			return cliutil.UsageError(cmd, "invalid --dns %q: want an IP address", d)
		}
		o.DNS = append(o.DNS, ip)
	}
	for _, ps := range cmd.StringSlice("publish") {
		p, err := network.ParsePort(ps)
		if err != nil {
			return cliutil.UsageError(cmd, "%v", err)
		}
		o.Ports = append(o.Ports, p)
	}
	o.Privileged = cmd.Bool("privileged")
	for _, so := range cmd.StringSlice("security-opt") {
		key, value, _ := strings.Cut(so, "=")
		if k, v, ok := strings.Cut(so, ":"); ok && !strings.Contains(k, "=") {
			key, value = k, v // docker's older KEY:VALUE form
		}
		switch {
		case key == "no-new-privileges" && (value == "" || value == "true"):
			o.NoNewPrivileges = true
		case key == "no-new-privileges" && value == "false":
		case key == "seccomp" && value != "":
			if o.Seccomp, err = sandbox.ReadSeccompOption(value); err != nil {
				return err
			}
		default:
			return cliutil.UsageError(cmd, "unsupported --security-opt %q (usandbox knows no-new-privileges and seccomp=unconfined|FILE.json)", so)
		}
	}
	if o.Limits, err = limitsFromFlags(cmd); err != nil {
		return cliutil.UsageError(cmd, "%v", err)
	}
	if o.Limits.Any() && os.Getenv(scopeEnv) == "" {
		// With a systemd user manager, limits get a delegated scope the
		// way podman's do: this command runs again inside one.
		if info, err := cgroupv2.Detect(); err == nil && info.NeedScope() {
			return runInScope()
		}
	}
	for _, f := range cmd.StringSlice("env-file") {
		env, err := sandbox.ReadEnvFile(f, os.LookupEnv)
		if err != nil {
			return err
		}
		o.Env = append(o.Env, env...)
	}
	env, err := sandbox.ParseEnv(cmd.StringSlice("env"), os.LookupEnv)
	if err != nil {
		return err
	}
	o.Env = append(o.Env, env...)
	for _, v := range cmd.StringSlice("volume") {
		m, err := sandbox.ParseVolume(v)
		if err != nil {
			return err
		}
		o.Volumes = append(o.Volumes, m)
	}
	for _, v := range cmd.StringSlice("tmpfs") {
		m, err := sandbox.ParseTmpfs(v)
		if err != nil {
			return err
		}
		o.Volumes = append(o.Volumes, m)
	}
	if o.Paths, err = cliutil.Paths(cmd); err != nil {
		return err
	}
	plan, err := userns.Detect()
	if err != nil {
		return err
	}
	if plan.Warning != "" {
		cliutil.Warn(plan.Warning)
	}
	o.Rootless, o.SingleID = plan.Mode != userns.Root, plan.Mode == userns.Single
	trace.Mark("cli", "user namespace planned")
	if o.Index, o.Image, err = findImage(o.Paths, args[0]); err != nil {
		return err
	}
	trace.Mark("cli", "image found")
	sb, err := sandbox.Create(o)
	if err != nil {
		return err
	}
	if o.Detached {
		if _, err := startDetached(o.Paths, sb); err != nil {
			return err
		}
		fmt.Println(sb.ID)
		return nil
	}
	code, err := sandbox.Start(o.Paths, sb, plan, sandbox.IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Interactive: interactive,
	})
	return exitWith(code, err)
}

// exitWith turns a sandbox's end into the CLI's exit status.
func exitWith(code int, err error) error {
	if err != nil {
		var ee *sandbox.ExitError
		if errors.As(err, &ee) {
			if ee.Msg != "" {
				cliutil.PrintError(errors.New(ee.Msg))
			}
			return cliutil.ExitError{Code: ee.Code}
		}
		return err
	}
	return cliutil.ExitError{Code: code}
}

// findImage looks the image up in the index and pulls it when missing,
// as docker run does.
func findImage(p index.Paths, ref string) (*index.Index, *index.Image, error) {
	ix, err := index.Read(p)
	if err != nil {
		return nil, nil, err
	}
	im, err := ix.Lookup(ref)
	if err == nil {
		return ix, im, nil
	}
	if !errors.Is(err, index.ErrImageUnknown) {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", ref)
	tool, err := imageTool()
	if err != nil {
		return nil, nil, err
	}
	pull := exec.Command(tool, "--root", p.Root, "--runroot", p.RunRoot, "pull", ref)
	pull.Args[0] = "usandbox"
	pull.Stdout, pull.Stderr = nil, os.Stderr
	if err := pull.Run(); err != nil {
		// usandbox-image printed why.
		return nil, nil, cliutil.ExitError{Code: cliutil.ExitFailed}
	}
	if ix, err = index.Read(p); err != nil {
		return nil, nil, err
	}
	im, err = ix.Lookup(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("pulled %s but cannot find it: %w", ref, err)
	}
	return ix, im, nil
}

// limitsFromFlags turns the resource flags into limits.
func limitsFromFlags(cmd *cli.Command) (cgroupv2.Limits, error) {
	var l cgroupv2.Limits
	var err error
	if v := cmd.String("memory"); v != "" {
		if l.Memory, err = cgroupv2.ParseBytes(v); err != nil {
			return l, fmt.Errorf("--memory: %w", err)
		}
	}
	if v := cmd.String("memory-swap"); v != "" {
		if v == "-1" {
			l.MemorySwap = -1
		} else if l.MemorySwap, err = cgroupv2.ParseBytes(v); err != nil {
			return l, fmt.Errorf("--memory-swap: %w", err)
		}
		if l.Memory == 0 {
			return l, fmt.Errorf("--memory-swap needs --memory")
		}
		if l.MemorySwap > 0 && l.MemorySwap < l.Memory {
			return l, fmt.Errorf("--memory-swap must be at least --memory (it counts memory plus swap)")
		}
	}
	if v := cmd.String("cpus"); v != "" {
		if l.CPUQuota, l.CPUPeriod, err = cgroupv2.ParseCPUs(v); err != nil {
			return l, err
		}
	}
	if cmd.IsSet("cpu-shares") {
		n := cmd.Int("cpu-shares")
		if n < 2 || n > 262144 {
			return l, fmt.Errorf("--cpu-shares must be 2..262144")
		}
		l.CPUWeight = cgroupv2.SharesToWeight(int64(n))
	}
	if cmd.IsSet("cpu-weight") {
		n := cmd.Int("cpu-weight")
		if n < 1 || n > 10000 {
			return l, fmt.Errorf("--cpu-weight must be 1..10000")
		}
		l.CPUWeight = int64(n)
	}
	if v := cmd.String("cpuset-cpus"); v != "" {
		if err := cgroupv2.ValidCpuset(v); err != nil {
			return l, err
		}
		l.CpusetCpus = v
	}
	if cmd.IsSet("pids-limit") {
		n := cmd.Int("pids-limit")
		if n < 1 {
			return l, fmt.Errorf("--pids-limit must be at least 1")
		}
		l.PidsLimit = int64(n)
	}
	return l, nil
}

// scopeEnv marks a usandbox run again inside a systemd scope.
const scopeEnv = "_USANDBOX_IN_SCOPE"

func runInScope() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := cgroupv2.ScopeArgs(append([]string{self}, os.Args[1:]...))
	c := exec.Command(args[0], args[1:]...)
	c.Env = append(os.Environ(), scopeEnv+"=1")
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, userns.ForwardedSignals...)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting a systemd scope for the limits: %w", err)
	}
	go func() {
		for s := range sigs {
			c.Process.Signal(s)
		}
	}()
	err = c.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return cliutil.ExitError{Code: ee.ExitCode()}
	}
	return err
}
