package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/internal/format"
	"usandbox/lifecycle"
)

// networkCommand is podman's network group: the networks' configuration.
// What runs for a network exists while a sandbox is on it.
func networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "manage networks",
		Commands: []*cli.Command{
			networkCreateCommand(), networkLsCommand(), networkInspectCommand(), networkRmCommand(),
			networkPruneCommand(), networkExistsCommand(), networkConnectCommand(), networkDisconnectCommand(),
		},
	}
}

// keyValues parses repeated KEY=VALUE flags (KEY alone: an empty value).
func keyValues(cmd *cli.Command, flag string) (map[string]string, error) {
	m := map[string]string{}
	for _, s := range cmd.StringSlice(flag) {
		k, v, _ := strings.Cut(s, "=")
		if k == "" {
			return nil, cliutil.UsageError(cmd, "invalid --%s %q: want KEY=VALUE", flag, s)
		}
		m[k] = v
	}
	return m, nil
}

func networkCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a network (named usandboxN without NAME)",
		ArgsUsage: "[NAME]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "bridge", Usage: "the driver: bridge (the only one)"},
			&cli.StringFlag{Name: "subnet", Usage: "the IPv4 subnet, e.g. 10.89.5.0/24 (default: the first free /24 from 10.89.0.0/24)"},
			&cli.StringFlag{Name: "gateway", Usage: "the gateway's address in --subnet (default: its first)"},
			&cli.BoolFlag{Name: "internal", Usage: "no route out of the network"},
			&cli.StringSliceFlag{Name: "label", Usage: "set KEY=VALUE (or KEY) on the network"},
			&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "driver option KEY=VALUE: mtu=N (1280..65520, default 65520)"},
			&cli.StringSliceFlag{Name: "dns", Usage: "an upstream server of the network's resolver, IP or IP:PORT (default: the host's)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 1 {
				return cliutil.UsageError(cmd, "accepts at most 1 arg(s), received %d", cmd.NArg())
			}
			labels, err := keyValues(cmd, "label")
			if err != nil {
				return err
			}
			opts, err := keyValues(cmd, "opt")
			if err != nil {
				return err
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			n, err := e.NetworkCreate(ctx, lifecycle.NetworkCreateOptions{
				Name: cmd.Args().First(), Driver: cmd.String("driver"), Subnet: cmd.String("subnet"),
				Gateway: cmd.String("gateway"), Internal: cmd.Bool("internal"), Labels: labels, Options: opts,
				DNS: cmd.StringSlice("dns"),
			})
			if err != nil {
				return err
			}
			fmt.Println(n.Name)
			return nil
		},
	}
}

func networkLsCommand() *cli.Command {
	return &cli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list networks",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only names"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "only networks that match KEY=VALUE: name, id (regular expressions), label, driver, dangling"},
			&cli.StringFlag{Name: "format", Usage: "json, table, or a Go template such as 'table {{.ID}}\t{{.Name}}'"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "print whole network IDs"},
			&cli.BoolFlag{Name: "noheading", Aliases: []string{"n"}, Usage: "do not print the header line"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "network ls takes no arguments")
			}
			filters, err := lifecycle.ParseNetworkFilters(cmd.StringSlice("filter"))
			if err != nil {
				return err
			}
			var tmpl *format.Template
			if f := cmd.String("format"); !format.IsDefaultTable(f) {
				if tmpl, err = format.Parse("ls", f); err != nil {
					return err
				}
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			list, err := e.NetworkList(ctx, filters)
			if err != nil {
				return err
			}
			if tmpl != nil && tmpl.IsJSON() {
				return tmpl.Execute(os.Stdout, list, nil)
			}
			rows := make([]networkRow, len(list))
			for i, n := range list {
				c := *n
				if !cmd.Bool("no-trunc") {
					// podman's ls shows 12 digits of the ID, in
					// templates too (but whole in json).
					c.ID = c.ID[:min(12, len(c.ID))]
				}
				rows[i] = networkRow{&c}
				list[i] = &c
			}
			switch {
			case tmpl != nil:
				var headers map[string]string
				if !cmd.Bool("noheading") {
					headers = format.Headers(lifecycle.Network{}, map[string]string{"ID": "Network ID"})
				}
				return tmpl.Execute(os.Stdout, rows, headers)
			case cmd.Bool("quiet"):
				for _, n := range list {
					fmt.Println(n.Name)
				}
				return nil
			}
			w := podmanTable()
			if !cmd.Bool("noheading") {
				fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER")
			}
			for _, n := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\n", n.ID, n.Name, n.Driver)
			}
			return w.Flush()
		},
	}
}

// networkRow is a network as ls's templates see it: {{.Labels}} is
// podman's KEY=VALUE,… list (sorted here; podman's order is random).
type networkRow struct{ *lifecycle.Network }

// Labels is the network's labels as KEY=VALUE, comma-separated.
func (r networkRow) Labels() string {
	list := make([]string, 0, len(r.Network.Labels))
	for k, v := range r.Network.Labels {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return strings.Join(list, ",")
}

func networkInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show networks as JSON",
		ArgsUsage: "NETWORK...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "json, or a Go template such as '{{.Subnets}}'"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() == 0 {
				return cliutil.UsageError(cmd, "requires at least 1 arg(s), only received 0")
			}
			tmpl, err := format.Parse("inspect", "json")
			if f := cmd.String("format"); f != "" {
				if tmpl, err = format.Parse("inspect", f); err != nil {
					return err
				}
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			out := []*lifecycle.Network{}
			var errs []error
			for _, ref := range cmd.Args().Slice() {
				n, err := e.NetworkInspect(ctx, ref)
				if err != nil {
					if errors.Is(err, lifecycle.ErrNotFound) {
						err = fmt.Errorf("inspecting object: network %s: %w", ref, err)
					}
					errs = append(errs, err)
					continue
				}
				out = append(out, n)
			}
			// podman prints what it found (or []) before the errors.
			if err := tmpl.Execute(os.Stdout, out, nil); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
}

func networkRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "remove networks (-f: and the sandboxes on them)",
		ArgsUsage: "NETWORK...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove the sandboxes on the network first (stopping the running ones); no error for an unknown network"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() == 0 {
				return cliutil.UsageError(cmd, "requires at least 1 arg(s), only received 0")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			force := cmd.Bool("force")
			var errs []error
			for _, ref := range cmd.Args().Slice() {
				err := e.NetworkRemove(ctx, ref, force)
				switch {
				case err == nil:
					fmt.Println(ref)
				case force && errors.Is(err, lifecycle.ErrNotFound):
					// podman's rm -f: an unknown network is no error.
				case errors.Is(err, lifecycle.ErrNetworkInUse):
					// podman stops at the first network in use.
					return rmExit(errors.Join(append(errs, err)...))
				default:
					errs = append(errs, err)
				}
			}
			// podman's statuses: 1 for an unknown network, 2 for one in use.
			return rmExit(errors.Join(errs...))
		},
	}
}

func networkPruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove every network that no sandbox is on (never bridge, the default one)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "network prune takes no arguments")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			if !cmd.Bool("force") {
				fmt.Println("WARNING! This will remove all networks not used by at least one container.")
				// podman's network prune: no answer (EOF) is an error.
				ok, err := confirm("Are you sure you want to continue? [y/N] ")
				if err != nil || !ok {
					return err
				}
			}
			names, err := e.NetworkPrune(ctx)
			for _, n := range names {
				fmt.Println(n)
			}
			return err
		},
	}
}

// networkExistsCommand: exit 0 if the network exists, 1 if not, as podman.
func networkExistsCommand() *cli.Command {
	return existsCmd("network", "NETWORK", func(ctx context.Context, e *lifecycle.Engine, ref string) error {
		_, err := e.NetworkInspect(ctx, ref)
		return err
	})
}

// networkConnectCommand puts a sandbox on one more network, at once if
// it runs (podman's network connect).
func networkConnectCommand() *cli.Command {
	return &cli.Command{
		Name:      "connect",
		Usage:     "connect a sandbox to a network (it must have been created on some network)",
		ArgsUsage: "NETWORK SANDBOX",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "alias", Usage: "one more name of the sandbox on the network (repeatable)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return cliutil.UsageError(cmd, "requires exactly 2 arg(s), received %d", cmd.NArg())
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			return e.NetworkConnect(ctx, cmd.Args().Get(0), cmd.Args().Get(1), cmd.StringSlice("alias"))
		},
	}
}

// networkDisconnectCommand takes a sandbox off a network.
func networkDisconnectCommand() *cli.Command {
	return &cli.Command{
		Name:      "disconnect",
		Usage:     "disconnect a sandbox from a network",
		ArgsUsage: "NETWORK SANDBOX",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted for podman's and docker's scripts: a disconnect is always immediate"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return cliutil.UsageError(cmd, "requires exactly 2 arg(s), received %d", cmd.NArg())
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			return e.NetworkDisconnect(ctx, cmd.Args().Get(0), cmd.Args().Get(1))
		},
	}
}
