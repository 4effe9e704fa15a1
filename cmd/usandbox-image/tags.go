package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/storage"
	"usandbox/storage/index"
)

// tagCommand is podman's tag: IMAGE NAME..., no output.
func tagCommand() *cli.Command {
	return &cli.Command{
		Name:      "tag",
		Usage:     "give an image more names",
		ArgsUsage: "IMAGE NAME...",
		Flags:     []cli.Flag{jsonFlag},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 2 {
				return cliutil.UsageError(cmd, "tag needs an image and at least one new name")
			}
			for _, n := range cmd.Args().Slice()[1:] {
				if _, err := storage.TagName(n); err != nil {
					return err
				}
			}
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				return st.Tag(cmd.Args().First(), cmd.Args().Slice()[1:])
			})
		}),
	}
}

// untagCommand is podman's untag: IMAGE [NAME...]; without names every
// name goes (the image stays, as <none>).
func untagCommand() *cli.Command {
	return &cli.Command{
		Name:      "untag",
		Usage:     "remove names of an image (all of them if none are given); the image stays",
		ArgsUsage: "IMAGE [NAME...]",
		Flags:     []cli.Flag{jsonFlag},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 {
				return cliutil.UsageError(cmd, "untag needs an image")
			}
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				return st.Untag(cmd.Args().First(), cmd.Args().Slice()[1:])
			})
		}),
	}
}

// imagePruneCommand removes dangling images (-a: every image no sandbox
// uses) and prints their IDs; usandbox asks first. With --system it
// prints them as system prune does, with the total freed (--freed: the
// bytes the sandboxes' removal freed before).
func imagePruneCommand() *cli.Command {
	return &cli.Command{
		Name:   "image-prune",
		Usage:  "remove images no sandbox uses that have no name (-a: all no sandbox uses)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}},
			&cli.BoolFlag{Name: "system"},
			&cli.Int64Flag{Name: "freed"},
			&cli.StringSliceFlag{Name: "filter", Usage: "only images with this label (label=KEY or label=KEY=VALUE)"},
			jsonFlag,
		},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			p, err := cliutil.Paths(cmd)
			if err != nil {
				return err
			}
			for _, f := range cmd.StringSlice("filter") {
				if !strings.HasPrefix(f, "label=") {
					return fmt.Errorf("image prune filters on labels only, not %q", f)
				}
			}
			match, err := parseImageFilters(cmd.StringSlice("filter"))
			if err != nil {
				return err
			}
			inUse := func(id string) []string { return index.SandboxesUsing(p, id) }
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				ids, freed, err := st.PruneMatching(cmd.Bool("all"), match, inUse)
				if cmd.Bool("json") {
					if err == nil {
						sendJSON(index.ToolMessage{Kind: index.ToolPruned, IDs: ids, Freed: freed})
					}
					return err
				}
				if cmd.Bool("system") && len(ids) > 0 {
					fmt.Println("Deleted Images")
				}
				for _, id := range ids {
					fmt.Println(id)
				}
				if cmd.Bool("system") && err == nil {
					fmt.Printf("Total reclaimed space: %s\n", units.HumanSize(float64(freed+cmd.Int64("freed"))))
				}
				return err
			})
		}),
	}
}
