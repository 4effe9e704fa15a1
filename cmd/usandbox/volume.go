package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/internal/format"
	"usandbox/lifecycle"
)

// volumeCommand is podman's volume group.
func volumeCommand() *cli.Command {
	return &cli.Command{
		Name:  "volume",
		Usage: "manage volumes",
		Commands: []*cli.Command{
			volumeCreateCommand(), volumeLsCommand(), volumeInspectCommand(), volumeRmCommand(),
			volumePruneCommand(), volumeExistsCommand(),
		},
	}
}

func volumeCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a volume (a random name without NAME)",
		ArgsUsage: "[NAME]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set KEY=VALUE (or KEY) on the volume"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 1 {
				return cliutil.UsageError(cmd, "accepts at most 1 arg(s), received %d", cmd.NArg())
			}
			labels := map[string]string{}
			for _, l := range cmd.StringSlice("label") {
				k, v, _ := strings.Cut(l, "=")
				if k == "" {
					return cliutil.UsageError(cmd, "invalid --label %q: want KEY=VALUE", l)
				}
				labels[k] = v
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			v, err := e.VolumeCreate(ctx, lifecycle.VolumeCreateOptions{Name: cmd.Args().First(), Labels: labels})
			if err != nil {
				return err
			}
			fmt.Println(v.Name)
			return nil
		},
	}
}

func volumeLsCommand() *cli.Command {
	return &cli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list volumes",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only names"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "only volumes that match KEY=VALUE: name (a regular expression), label, driver, dangling"},
			&cli.StringFlag{Name: "format", Usage: "json, table, or a Go template such as 'table {{.Name}}\t{{.Driver}}'"},
			&cli.BoolFlag{Name: "noheading", Aliases: []string{"n"}, Usage: "do not print the header line"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "volume ls takes no arguments")
			}
			filters, err := lifecycle.ParseVolumeFilters(cmd.StringSlice("filter"))
			if err != nil {
				return cliutil.UsageError(cmd, "%v", err)
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
			list, err := e.VolumeList(ctx, filters)
			if err != nil {
				return err
			}
			if list == nil {
				list = []*lifecycle.Volume{}
			}
			switch {
			case tmpl != nil:
				var headers map[string]string
				if !cmd.Bool("noheading") {
					headers = format.Headers(lifecycle.Volume{}, map[string]string{"Name": "Volume Name"})
				}
				return tmpl.Execute(os.Stdout, list, headers)
			case cmd.Bool("quiet"):
				for _, v := range list {
					fmt.Println(v.Name)
				}
				return nil
			}
			// podman's table: columns at least 12 wide, 2 spaces apart.
			w := tabwriter.NewWriter(os.Stdout, 12, 2, 2, ' ', 0)
			if !cmd.Bool("noheading") {
				fmt.Fprintln(w, "DRIVER\tVOLUME NAME")
			}
			for _, v := range list {
				fmt.Fprintf(w, "%s\t%s\n", v.Driver, v.Name)
			}
			return w.Flush()
		},
	}
}

// volumeNames are the volumes a command names, or with --all every one.
func volumeNames(ctx context.Context, cmd *cli.Command, e *lifecycle.Engine) ([]string, error) {
	if cmd.Bool("all") {
		if cmd.NArg() > 0 {
			return nil, cliutil.UsageError(cmd, "choose either one or more volumes or --all")
		}
		list, err := e.VolumeList(ctx, lifecycle.VolumeFilters{})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, v := range list {
			names = append(names, v.Name)
		}
		return names, nil
	}
	if cmd.NArg() == 0 {
		return nil, cliutil.UsageError(cmd, "provide one or more volume names or use --all")
	}
	return cmd.Args().Slice(), nil
}

func volumeInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show volumes as JSON",
		ArgsUsage: "NAME...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "every volume"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "json, or a Go template such as '{{.Mountpoint}}'"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
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
			names, err := volumeNames(ctx, cmd, e)
			if err != nil {
				return err
			}
			out := []*lifecycle.Volume{}
			var errs []error
			for _, n := range names {
				v, err := e.VolumeInspect(ctx, n)
				if err != nil {
					if errors.Is(err, lifecycle.ErrNotFound) {
						err = fmt.Errorf("inspecting object: no such volume %s", n)
					}
					errs = append(errs, err)
					continue
				}
				out = append(out, v)
			}
			// podman prints what it found (or []) before the errors.
			if err := tmpl.Execute(os.Stdout, out, nil); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
}

func volumeRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "remove volumes (-f: and the sandboxes that use them)",
		ArgsUsage: "NAME...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove the sandboxes that use the volume first (stopping the running ones)"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "every volume"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			names, err := volumeNames(ctx, cmd, e)
			if err != nil {
				return err
			}
			var errs []error
			for _, n := range names {
				if err := e.VolumeRemove(ctx, n, cmd.Bool("force")); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Println(n)
			}
			// podman's statuses: 1 for an unknown volume, 2 for one in use.
			return rmExit(errors.Join(errs...))
		},
	}
}

func volumePruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove every volume that no sandbox uses",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "volume prune takes no arguments")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			if !cmd.Bool("force") {
				f, err := lifecycle.ParseVolumeFilters([]string{"dangling=true"})
				if err != nil {
					return err
				}
				list, err := e.VolumeList(ctx, f)
				if err != nil {
					return err
				}
				fmt.Println("WARNING! This will remove all volumes not used by at least one container. The following volumes will be removed:")
				for _, v := range list {
					fmt.Println(v.Name)
				}
				ok, err := confirm("Are you sure you want to continue? [y/N] ")
				if errors.Is(err, io.EOF) {
					return nil // podman's volume prune: no answer is no, exit 0
				}
				if err != nil || !ok {
					return err
				}
			}
			names, err := e.VolumePrune(ctx)
			for _, n := range names {
				fmt.Println(n)
			}
			return err
		},
	}
}

// volumeExistsCommand: exit 0 if the volume exists, 1 if not, as podman.
func volumeExistsCommand() *cli.Command {
	return existsCmd("volume", "NAME", func(ctx context.Context, e *lifecycle.Engine, name string) error {
		_, err := e.VolumeInspect(ctx, name)
		return err
	})
}
