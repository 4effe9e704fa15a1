package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/internal/trace"
	"usandbox/lifecycle"
	"usandbox/sandbox"
)

func runCommand() *cli.Command {
	one := 1
	return &cli.Command{
		Name:      "run",
		Usage:     "run a command in a new sandbox",
		ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		// Everything after the image belongs to the command.
		StopOnNthArg: &one,
		Flags:        append(runFlags(), runOnlyFlags()...),
		Action:       runAction,
	}
}

// runFlags are run's flags; create shares them (without --detach).
func runFlags() []cli.Flag {
	return append(append(healthFlags(), []cli.Flag{
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
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "HOST-PATH|VOLUME-NAME:CONTAINER-PATH[:ro,rw,z,Z,U,nocopy], or CONTAINER-PATH for an anonymous volume"},
		&cli.StringSliceFlag{Name: "mount", Usage: "type=bind|volume|tmpfs,src=…,dst=…[,ro][,volume-nocopy][,tmpfs-size=…,tmpfs-mode=…] (docker's long form)"},
		&cli.StringSliceFlag{Name: "volumes-from", Usage: "mount the volumes and bind mounts of SANDBOX[:ro|rw]"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs at PATH[:OPTIONS]"},
		&cli.StringSliceFlag{Name: "network", Aliases: []string{"net"}, Usage: "a network's NAME (repeatable; bridge: the default network), container:NAME (share its network), slirp4netns[:mtu=N,cidr=A.B.C.D/N,allow_host_loopback=true] (default when installed), pasta[:…], none or host"},
		&cli.StringSliceFlag{Name: "network-alias", Usage: "one more name of the sandbox on its networks (repeatable)"},
		&cli.StringSliceFlag{Name: "dns", Usage: "use this name server (an IP address; repeatable) instead of the network's forwarder or the host's"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish [HOST-IP:][HOST-PORT:]CONTAINER-PORT[/tcp|/udp]"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the root filesystem read-only"},
		&cli.BoolFlag{Name: "read-only-tmpfs", Value: true, Usage: "with --read-only, writable tmpfs on /run, /tmp and /var/tmp (podman's default)"},
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
		&cli.StringFlag{Name: "restart", Usage: "no, on-failure[:N], always or unless-stopped: start the command again when it ends (the sandbox's watcher does, no daemon)"},
		&cli.StringFlag{Name: "log-driver", Value: "k8s-file", Usage: "k8s-file (the log usandbox logs reads) or none"},
		&cli.StringSliceFlag{Name: "log-opt", Usage: "max-size=SIZE: rotate the log at SIZE (default 10m)"},
		&cli.BoolFlag{Name: "init", Usage: "run an init as pid 1 (always on: usandbox's init forwards signals and reaps zombies)"},
	}...), append(processFlags(), moreRunFlags()...)...)
}

func runAction(ctx context.Context, cmd *cli.Command) error {
	// Attached (not -d), -it needs a terminal, as docker says; detached,
	// the sandbox's pty has no reader but the log.
	if !cmd.Bool("detach") {
		if err := checkTTY(cmd.Bool("interactive"), cmd.Bool("tty")); err != nil {
			return err
		}
	} else if cmd.IsSet("attach") {
		// podman 4.3 takes -a with -d and attaches nothing; docker's
		// refusal says what is meant.
		return cliutil.UsageError(cmd, "conflicting options: --attach and --detach")
	}
	if _, err := lifecycle.ParseAttach(cmd.StringSlice("attach")); err != nil {
		return err
	}
	e, sb, err := createFromFlags(ctx, cmd)
	if err != nil {
		return err
	}
	if sb.Detached {
		cliutil.Debugf("starting sandbox %s detached", sb.ID)
		if err := e.StartCreated(ctx, sb); err != nil {
			return err
		}
		fmt.Println(sb.ID)
		return nil
	}
	streams, done, err := attachStreams(ctx, cmd)
	if err != nil {
		return err
	}
	defer done()
	cliutil.Debugf("running sandbox %s in the foreground: %s", sb.ID, strings.Join(sb.Command, " "))
	code, err := e.Run(ctx, sb, streams)
	cliutil.Debugf("sandbox %s exited: status %d, error %v", sb.ID, code, err)
	return exitWith(code, err)
}

// createFromFlags creates the sandbox that run's (or create's) flags and
// arguments describe, pulling its image if the store lacks it.
func createFromFlags(ctx context.Context, cmd *cli.Command) (*lifecycle.Engine, *sandbox.Sandbox, error) {
	trace.Mark("cli", "flags parsed")
	if cmd.NArg() < 1 {
		return nil, nil, cliutil.UsageError(cmd, "%s needs an image", cmd.Name)
	}
	args := cmd.Args().Slice()
	o := lifecycle.CreateOptions{
		Name:     cmd.String("name"),
		ImageRef: args[0],
		Args:     args[1:],
		Workdir:  cmd.String("workdir"),
		User:     cmd.String("user"),
		Hostname: cmd.String("hostname"),
		ReadOnly: cmd.Bool("read-only"),
		// podman's --read-only-tmpfs: on unless turned off.
		ReadOnlyTmpfs: cmd.Bool("read-only") && cmd.Bool("read-only-tmpfs"),
		CapAdd:        cmd.StringSlice("cap-add"),
		CapDrop:       cmd.StringSlice("cap-drop"),
		TTY:           cmd.Bool("tty"),
		AutoRemove:    cmd.Bool("rm"),
		Detached:      cmd.Bool("detach"),
	}
	if err := applyMoreFlags(cmd, &o); err != nil {
		return nil, nil, err
	}
	if cmd.IsSet("entrypoint") {
		ep := cmd.String("entrypoint")
		o.Entrypoint = &ep
	}
	nets := networkValues(cmd.StringSlice("network"))
	if len(nets) == 0 {
		nets = []string{lifecycle.DefaultNetwork()}
	}
	var err error
	if o.Network, err = lifecycle.ParseNetworks(nets, cmd.StringSlice("network-alias")); err != nil {
		return nil, nil, cliutil.UsageError(cmd, "%v", err)
	}
	o.NetworkRaw = strings.Join(nets, ",")
	for _, d := range cmd.StringSlice("dns") {
		ip, err := lifecycle.ParseDNS(d)
		if err != nil {
			return nil, nil, cliutil.UsageError(cmd, "%v", err)
		}
		o.DNS = append(o.DNS, ip)
	}
	for _, ps := range cmd.StringSlice("publish") {
		p, err := lifecycle.ParsePort(ps)
		if err != nil {
			return nil, nil, cliutil.UsageError(cmd, "%v", err)
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
				return nil, nil, err
			}
		default:
			return nil, nil, cliutil.UsageError(cmd, "unsupported --security-opt %q (usandbox knows no-new-privileges and seccomp=unconfined|FILE.json)", so)
		}
	}
	if o.Limits, err = lifecycle.ParseLimits(limitFlags(cmd)); err != nil {
		return nil, nil, cliutil.UsageError(cmd, "%v", err)
	}
	if lifecycle.NeedScope(o.Limits) {
		// With a systemd user manager, limits get a delegated scope the
		// way podman's do: this command runs again inside one.
		code, err := lifecycle.RunInScope(os.Args, cliutil.CommandStdout(ctx))
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, cliutil.ExitError{Code: code}
	}
	for _, f := range cmd.StringSlice("env-file") {
		env, err := sandbox.ReadEnvFile(f, os.LookupEnv)
		if err != nil {
			return nil, nil, err
		}
		o.Env = append(o.Env, env...)
	}
	env, err := sandbox.ParseEnv(cmd.StringSlice("env"), os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	o.Env = append(o.Env, env...)
	for _, v := range cmd.StringSlice("volume") {
		m, err := sandbox.ParseVolume(v)
		if err != nil {
			return nil, nil, err
		}
		o.Volumes = append(o.Volumes, m)
	}
	if o.Healthcheck, err = parseHealthFlags(cmd); err != nil {
		return nil, nil, err
	}
	if o.RestartPolicy, o.RestartMax, err = lifecycle.ParseRestart(cmd.String("restart"), o.AutoRemove); err != nil {
		return nil, nil, err
	}
	if o.LogDriver, o.LogMaxSize, err = lifecycle.ParseLog(cmd.String("log-driver"), cmd.StringSlice("log-opt")); err != nil {
		return nil, nil, err
	}
	for _, v := range cmd.StringSlice("mount") {
		m, err := sandbox.ParseMount(v)
		if err != nil {
			return nil, nil, err
		}
		o.Volumes = append(o.Volumes, m)
	}
	for _, v := range cmd.StringSlice("volumes-from") {
		ref, mode, err := sandbox.ParseVolumesFrom(v)
		if err != nil {
			return nil, nil, err
		}
		o.VolumesFrom = append(o.VolumesFrom, sandbox.VolumesFrom{Ref: ref, Mode: mode})
	}
	for _, v := range cmd.StringSlice("tmpfs") {
		m, err := sandbox.ParseTmpfs(v)
		if err != nil {
			return nil, nil, err
		}
		o.Volumes = append(o.Volumes, m)
	}
	if err := applyProcessFlags(cmd, &o); err != nil {
		return nil, nil, err
	}
	e, err := engine(cmd)
	if err != nil {
		return nil, nil, err
	}
	sb, err := createWithPolicy(ctx, cmd, e, o)
	if err != nil {
		return nil, nil, err
	}
	return e, sb, nil
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

// limitFlags are the resource flags as given.
func limitFlags(cmd *cli.Command) lifecycle.LimitFlags {
	f := lifecycle.LimitFlags{
		Memory: cmd.String("memory"), MemorySwap: cmd.String("memory-swap"),
		CPUs: cmd.String("cpus"), CpusetCpus: cmd.String("cpuset-cpus"),
	}
	num := func(name string) *int64 {
		if !cmd.IsSet(name) {
			return nil
		}
		n := int64(cmd.Int(name))
		return &n
	}
	f.CPUShares, f.CPUWeight, f.PidsLimit = num("cpu-shares"), num("cpu-weight"), num("pids-limit")
	return f
}

// networkValues undoes the flag parser's split at commas of --network's
// values: a piece with "=" but no ":" is an option of the one before
// (slirp4netns:mtu=1500,cidr=…); a network's name has no "=".
func networkValues(pieces []string) []string {
	var out []string
	for _, p := range pieces {
		if len(out) > 0 && strings.Contains(p, "=") && !strings.Contains(p, ":") {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}
