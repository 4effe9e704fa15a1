package main

import (
	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
	"usandbox/sandbox"
)

// processFlags are run's and create's flags of the user namespace and of
// the command's process.
func processFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "userns", Usage: "host (the default: your user namespace) or keep-id[:uid=N,gid=N] (your uid and gid are the same inside, or N)"},
		&cli.StringSliceFlag{Name: "uidmap", Usage: "CONTAINER-ID:HOST-ID:SIZE; HOST-ID counts in your user namespace (0 is you, 1 your first sub-uid)"},
		&cli.StringSliceFlag{Name: "gidmap", Usage: "CONTAINER-ID:HOST-ID:SIZE, as --uidmap for groups"},
		&cli.StringSliceFlag{Name: "group-add", Usage: "add a supplementary group (a name in the image's /etc/group, or a number)"},
		&cli.StringSliceFlag{Name: "ulimit", Usage: "NAME=SOFT[:HARD] resource limit (nofile, nproc, core, …; -1: unlimited)"},
		&cli.StringFlag{Name: "shm-size", Usage: "size of /dev/shm (64m default; 0: no limit)"},
		&cli.StringFlag{Name: "tz", Usage: "time zone: a name of the host's /usr/share/zoneinfo (Europe/Paris), or local"},
		&cli.StringSliceFlag{Name: "device", Usage: "bind a host device you can open: HOST-PATH[:CONTAINER-PATH][:rw]"},
	}
}

// applyProcessFlags puts processFlags into o.
func applyProcessFlags(cmd *cli.Command, o *lifecycle.CreateOptions) error {
	var err error
	if o.IDs, err = lifecycle.ParseUserNS(cmd.String("userns")); err != nil {
		return cliutil.UsageError(cmd, "%v", err)
	}
	if o.IDs.UIDMap, err = lifecycle.ParseIDMap("uidmap", cmd.StringSlice("uidmap")); err != nil {
		return cliutil.UsageError(cmd, "%v", err)
	}
	if o.IDs.GIDMap, err = lifecycle.ParseIDMap("gidmap", cmd.StringSlice("gidmap")); err != nil {
		return cliutil.UsageError(cmd, "%v", err)
	}
	p := &o.Process
	p.GroupAdd = cmd.StringSlice("group-add")
	for _, u := range cmd.StringSlice("ulimit") {
		rl, err := sandbox.ParseUlimit(u)
		if err != nil {
			return cliutil.UsageError(cmd, "%v", err)
		}
		p.Ulimits = append(p.Ulimits, rl)
	}
	if cmd.IsSet("shm-size") {
		n, err := sandbox.ParseShmSize(cmd.String("shm-size"))
		if err != nil {
			return cliutil.UsageError(cmd, "%v", err)
		}
		p.ShmSize = &n
	}
	p.TZ = cmd.String("tz")
	for _, d := range cmd.StringSlice("device") {
		dev, err := sandbox.ParseDevice(d)
		if err != nil {
			return cliutil.UsageError(cmd, "%v", err)
		}
		p.Devices = append(p.Devices, dev)
	}
	return nil
}
