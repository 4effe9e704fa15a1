package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
	"usandbox/sandbox"
)

// podmanTable is the tabwriter podman's report package uses (columns at
// least 12 wide, 2 spaces apart), for the commands whose tables follow
// podman's layout.
func podmanTable() *tabwriter.Writer {
	return tabwriter.NewWriter(os.Stdout, 12, 2, 2, ' ', 0)
}

// confirm asks question on stdout and reads the answer from stdin, as
// podman's prune commands do: only y or yes goes on.
func confirm(question string) (bool, error) {
	fmt.Print(question)
	answer, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || answer == "") {
		// podman's prune commands fail with "Error: EOF" (125) when
		// stdin ends before an answer.
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes", nil
}

// renameCommand is podman's rename: no output.
func renameCommand() *cli.Command {
	return &cli.Command{
		Name:      "rename",
		Usage:     "give a sandbox (running or not) a new name",
		ArgsUsage: "SANDBOX NAME",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return cliutil.UsageError(cmd, "rename takes a sandbox and its new name")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			return e.Rename(ctx, cmd.Args().Get(0), cmd.Args().Get(1))
		},
	}
}

// topCommand is podman's top with descriptors (not ps(1) options).
func topCommand() *cli.Command {
	return &cli.Command{
		Name:      "top",
		Usage:     "list the processes of a running sandbox",
		ArgsUsage: "SANDBOX [DESCRIPTOR...]",
		Description: "The columns are podman's descriptors: user pid ppid pcpu etime tty time args (the default), " +
			"comm group hgroup hpid huser nice pgid state vsz. Pids, users and groups are the sandbox's; " +
			"usandbox's own init is not listed.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 {
				return cliutil.UsageError(cmd, "top needs a sandbox")
			}
			descs, err := lifecycle.ParseTopDescriptors(cmd.Args().Slice()[1:])
			if err != nil {
				return cliutil.UsageError(cmd, "%v", err)
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			titles, rows, err := e.Top(ctx, cmd.Args().First(), descs)
			if err != nil {
				return err
			}
			w := podmanTable()
			fmt.Fprintln(w, strings.Join(titles, "\t"))
			for _, r := range rows {
				fmt.Fprintln(w, strings.Join(r, "\t"))
			}
			return w.Flush()
		},
	}
}

// diffCommand is podman's diff: "A /path", "C /path", "D /path".
func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "list what a sandbox changed in its root filesystem (A added, C changed, D deleted)",
		ArgsUsage: "SANDBOX",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "json for JSON"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "diff takes exactly one sandbox")
			}
			if f := cmd.String("format"); f != "" && f != "json" {
				return cliutil.UsageError(cmd, "unknown --format %q: use json", f)
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			changes, err := e.Diff(ctx, cmd.Args().First())
			if err != nil {
				return err
			}
			if cmd.String("format") == "json" {
				// podman's: {"changed": [...], "added": [...], "deleted": [...]}
				out := map[string][]string{}
				key := map[string]string{"A": "added", "C": "changed", "D": "deleted"}
				for _, c := range changes {
					out[key[c.Kind]] = append(out[key[c.Kind]], c.Path)
				}
				return cliutil.PrintJSON(out)
			}
			for _, c := range changes {
				fmt.Println(c.Kind, c.Path)
			}
			return nil
		},
	}
}

// pauseCommand is pause or unpause (the cgroup v2 freezer): the
// reference of each sandbox done, as podman prints.
func pauseCommand(name string) *cli.Command {
	usage := "freeze every process of running sandboxes (cgroup v2)"
	if name == "unpause" {
		usage = "thaw paused sandboxes"
	}
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "SANDBOX...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachSandbox(cmd, func(e *lifecycle.Engine, ref string) error {
				op := e.Pause
				if name == "unpause" {
					op = e.Unpause
				}
				if err := op(ctx, ref); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

// statsCommand is podman's stats --no-stream: one sample of each
// sandbox (every running one if none is named).
func statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "print one sample of running sandboxes' resource use (cgroup v2)",
		ArgsUsage: "[SANDBOX...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stream", Usage: "print one sample and exit (required: usandbox does not stream)"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs"},
			&cli.StringFlag{Name: "format", Usage: "table or json"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if !cmd.Bool("no-stream") {
				return cliutil.UsageError(cmd, "usandbox stats prints one sample only: add --no-stream")
			}
			format, err := cliutil.Format(cmd)
			if err != nil {
				return err
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			refs := cmd.Args().Slice()
			if len(refs) == 0 {
				list, err := e.List(ctx, lifecycle.ListOptions{})
				if err != nil {
					return err
				}
				for _, sb := range list {
					refs = append(refs, sb.ID)
				}
			}
			var all []*lifecycle.Stats
			for _, ref := range refs {
				st, err := e.Stats(ctx, ref)
				if err != nil {
					return err
				}
				all = append(all, st)
			}
			return printStats(all, format == "json", cmd.Bool("no-trunc"))
		},
	}
}

func printStats(all []*lifecycle.Stats, asJSON, noTrunc bool) error {
	pair := func(a, b uint64) string {
		return units.HumanSize(float64(a)) + " / " + units.HumanSize(float64(b))
	}
	pct := func(f float64) string { return fmt.Sprintf("%.2f%%", f) }
	memPct := func(s *lifecycle.Stats) float64 {
		if s.MemLimit == 0 {
			return 0
		}
		return 100 * float64(s.MemUsage) / float64(s.MemLimit)
	}
	id := func(s *lifecycle.Stats) string {
		if noTrunc {
			return s.ID
		}
		return sandbox.ShortID(s.ID)
	}
	if asJSON {
		// podman's stats --format json keys.
		out := []map[string]string{}
		for _, s := range all {
			out = append(out, map[string]string{
				"id": id(s), "name": s.Name, "cpu_time": s.CPU.String(), "cpu_percent": pct(s.CPUPercent),
				"avg_cpu": pct(s.CPUPercent), "mem_usage": pair(s.MemUsage, s.MemLimit), "mem_percent": pct(memPct(s)),
				"net_io": pair(s.NetRx, s.NetTx), "block_io": pair(s.BlockRead, s.BlockOut), "pids": strconv.FormatUint(s.Pids, 10),
			})
		}
		return cliutil.PrintJSON(out)
	}
	w := podmanTable()
	fmt.Fprintln(w, "ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET IO\tBLOCK IO\tPIDS\tCPU TIME\tAVG CPU %")
	for _, s := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", id(s), s.Name, pct(s.CPUPercent),
			pair(s.MemUsage, s.MemLimit), pct(memPct(s)), pair(s.NetRx, s.NetTx), pair(s.BlockRead, s.BlockOut),
			s.Pids, s.CPU, pct(s.CPUPercent))
	}
	return w.Flush()
}

// systemDfCommand is podman's system df table.
func systemDfCommand() *cli.Command {
	return &cli.Command{
		Name:  "df",
		Usage: "show the disk space images and sandboxes use",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "system df takes no arguments")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			usage, err := e.DiskUsage(ctx)
			if err != nil {
				return err
			}
			w := podmanTable()
			fmt.Fprintln(w, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			for _, u := range usage {
				pct := 0
				if u.Size > 0 {
					pct = int(float64(u.Reclaimable)/float64(u.Size)*100 + 0.5)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s (%d%%)\n", u.Type, u.Total, u.Active,
					units.HumanSize(float64(u.Size)), units.HumanSize(float64(u.Reclaimable)), pct)
			}
			return w.Flush()
		},
	}
}

// systemPruneCommand is podman's system prune: stopped sandboxes, with
// --volumes the volumes no sandbox uses, then dangling images (-a: every
// image no sandbox uses).
func systemPruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove stopped sandboxes and dangling images (-a: every image no sandbox uses)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every image no sandbox uses, not only dangling ones"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
			&cli.BoolFlag{Name: "volumes", Usage: "remove the volumes no sandbox uses too"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "system prune takes no arguments")
			}
			volumes := ""
			if cmd.Bool("volumes") {
				volumes = "\t- all volumes not used by at least one container\n"
			}
			if !cmd.Bool("force") {
				images := "all dangling images\n\t- all dangling build cache"
				if cmd.Bool("all") {
					images = "all images without at least one container associated with them\n\t- all build cache"
				}
				ok, err := confirm("WARNING! This command removes:\n\t- all stopped containers\n\t- all networks not used by at least one container\n" + volumes + "\t- " +
					images + "\n\nAre you sure you want to continue? [y/N] ")
				if err != nil || !ok {
					return err
				}
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			ids, freed, err := e.PruneSize(ctx)
			if len(ids) > 0 {
				fmt.Println("Deleted Containers")
				for _, id := range ids {
					fmt.Println(id)
				}
			}
			if err != nil {
				return err
			}
			if cmd.Bool("volumes") {
				names, err := e.VolumePrune(ctx)
				if len(names) > 0 {
					fmt.Println("Deleted Volumes")
					for _, n := range names {
						fmt.Println(n)
					}
				}
				if err != nil {
					return err
				}
			}
			args := []string{"--system", "--freed", strconv.FormatInt(freed, 10)}
			if cmd.Bool("all") {
				args = append(args, "--all")
			}
			return cliutil.ExecImageTool(imageToolArgs(cmd, "image-prune", args...))
		},
	}
}

// imagePruneCommand is podman's image prune: asks, then hands over.
func imagePruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove dangling images (no name, no sandbox); -a: every image no sandbox uses",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every image no sandbox uses, not only dangling ones"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "image prune takes no arguments")
			}
			if !cmd.Bool("force") {
				what := "all dangling images"
				if cmd.Bool("all") {
					what = "all images without at least one container associated with them"
				}
				ok, err := confirm("WARNING! This command removes " + what + ".\nAre you sure you want to continue? [y/N] ")
				if err != nil || !ok {
					return err
				}
			}
			var args []string
			if cmd.Bool("all") {
				args = append(args, "--all")
			}
			return cliutil.ExecImageTool(imageToolArgs(cmd, "image-prune", args...))
		},
	}
}

// lookupAll is podman's rm: every sandbox named must exist before any is
// removed.
func lookupAll(ctx context.Context, cmd *cli.Command) error {
	if cmd.Bool("all") || cmd.Bool("ignore") {
		return nil
	}
	e, err := engine(cmd)
	if err != nil {
		return err
	}
	for _, ref := range cmd.Args().Slice() {
		if _, err := e.Lookup(ctx, ref); errors.Is(err, lifecycle.ErrNotFound) {
			return err
		}
	}
	return nil
}

// configureCompletion shows urfave/cli's completion command in the help,
// as podman lists its own, and names an unknown shell.
func configureCompletion(c *cli.Command) {
	c.Hidden = false
	c.Usage = "print a shell completion script: completion bash|zsh|fish|pwsh"
	c.Action = func(ctx context.Context, cmd *cli.Command) error {
		if cmd.NArg() > 0 {
			return cliutil.UsageError(cmd, "unknown shell %q: use bash, zsh, fish or pwsh", cmd.Args().First())
		}
		return cli.ShowSubcommandHelp(cmd)
	}
}
