package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v3"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
	"golang.org/x/term"

	"usandbox/internal/cliutil"
	"usandbox/internal/format"
	"usandbox/storage"
	"usandbox/storage/index"
)

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "pull an image from a registry, an OCI layout or an archive",
		ArgsUsage: "IMAGE (busybox, docker://HOST/NAME:TAG, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, dir:DIR)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
			&cli.BoolFlag{Name: "tls-verify", Value: true, Usage: "require HTTPS and verify certificates (false allows plain http)"},
			&cli.StringFlag{Name: "creds", Usage: "USER[:PASSWORD] for the registry (else the auth file's)"},
			authFileFlag,
			authStdinFlag,
			jsonFlag,
		},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "pull takes exactly one image, got %d arguments", cmd.NArg())
			}
			po := storage.PullOptions{AuthFile: authFile(cmd)}
			so := storeOptions{}
			if !cmd.Bool("tls-verify") {
				so.skipTLSVerify = types.OptionalBoolTrue
			}
			return withStore(ctx, cmd, so, func(ctx context.Context, st *storage.Store) error {
				var progress storage.Progress
				if cmd.Bool("json") {
					progress = storage.JSONProgress(os.Stdout)
				} else if !cmd.Bool("quiet") {
					if term.IsTerminal(int(os.Stderr.Fd())) {
						progress = storage.BarProgress(os.Stderr)
					} else {
						progress = storage.LineProgress(os.Stderr)
					}
				}
				a, err := commandCreds(cmd)
				if err != nil {
					return err
				}
				po.Auth, po.Progress = a, progress
				im, err := st.Pull(ctx, cmd.Args().First(), po)
				if err != nil {
					return err
				}
				if cmd.Bool("json") {
					sendJSON(index.ToolMessage{Kind: index.ToolImage, ID: im.ID, Digest: im.Digest})
					return nil
				}
				fmt.Println(im.ID)
				return nil
			})
		}),
	}
}

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:  "images",
		Usage: "list images",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only image IDs"},
			&cli.StringFlag{Name: "format", Usage: "json, table, or a Go template such as 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}'"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "print full image IDs"},
			&cli.BoolFlag{Name: "noheading", Aliases: []string{"n"}, Usage: "do not print the header line"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "every image, also the intermediate images of builds (their layer cache)"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "only images that match KEY=VALUE: label (KEY or KEY=VALUE), dangling (true|false), reference (a name, * and ? as in a shell)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			var tmpl *format.Template
			if f := cmd.String("format"); !format.IsDefaultTable(f) {
				var err error
				if tmpl, err = format.Parse("images", f); err != nil {
					return err
				}
			}
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "images takes no arguments")
			}
			match, err := parseImageFilters(cmd.StringSlice("filter"))
			if err != nil {
				return err
			}
			p, err := cliutil.Paths(cmd)
			if err != nil {
				return err
			}
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				ims, err := st.Images()
				if err != nil {
					return err
				}
				ims = filterImages(ims, match)
				if !cmd.Bool("all") {
					shown := ims[:0]
					for _, im := range ims {
						if !im.Intermediate {
							shown = append(shown, im)
						}
					}
					ims = shown
				}
				if tmpl != nil {
					users := func(id string) int { return len(index.SandboxesUsing(p, id)) }
					return printImagesFormat(tmpl, ims, users, cmd.Bool("no-trunc"), cmd.Bool("noheading"))
				}
				return printImages(ims, cmd.Bool("quiet"), cmd.Bool("no-trunc"), cmd.Bool("noheading"))
			})
		},
	}
}

func printImages(ims []*storage.Image, quiet, noTrunc, noHeading bool) error {
	id := func(im *storage.Image) string {
		if noTrunc {
			return "sha256:" + im.ID
		}
		return im.ID[:12]
	}
	if quiet {
		for _, im := range ims {
			fmt.Println(id(im))
		}
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	if !noHeading {
		fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, im := range ims {
		created := units.HumanDuration(time.Since(im.Created)) + " ago"
		size := humanSize(im.Size)
		names := im.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, n := range names {
			repo, tag := splitName(n)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id(im), created, size)
		}
	}
	return w.Flush()
}

// humanSize is a size as podman's images prints it: "2.13 MB".
func humanSize(n int64) string {
	s := units.HumanSizeWithPrecision(float64(n), 3)
	if i := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') }); i > 0 {
		s = s[:i] + " " + s[i:]
	}
	return s
}

// splitName splits a stored name into REPOSITORY and TAG columns.
func splitName(n string) (string, string) {
	if n == "" {
		return "<none>", "<none>"
	}
	named, err := reference.ParseNormalizedNamed(n)
	if err != nil {
		return n, "<none>"
	}
	tag := "<none>"
	if t, ok := named.(reference.NamedTagged); ok {
		tag = t.Tag()
	}
	return named.Name(), tag
}

func rmiCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmi",
		Usage:     "remove images",
		ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove even if a sandbox uses it"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every image"},
			jsonFlag,
		},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			all := cmd.Bool("all")
			if cmd.Bool("json") && (all || cmd.NArg() != 1) {
				return cliutil.UsageError(cmd, "rmi --json takes one image")
			}
			switch {
			case all && cmd.NArg() > 0:
				return cliutil.UsageError(cmd, "no arguments are needed with --all")
			case !all && cmd.NArg() == 0:
				return cliutil.UsageError(cmd, "rmi needs at least one image")
			}
			p, err := cliutil.Paths(cmd)
			if err != nil {
				return err
			}
			inUse := func(id string) []string { return index.SandboxesUsing(p, id) }
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				var failed []string
				code := cliutil.ExitFailed
				refs := cmd.Args().Slice()
				if all {
					ims, err := st.Images()
					if err != nil {
						return err
					}
					refs = nil
					for _, im := range ims {
						refs = append(refs, im.ID)
					}
				}
				for _, ref := range refs {
					// Even with -f: usandbox rmi -f removes the sandboxes
					// first, and an image is never pulled from under one.
					res, err := st.Remove(ref, false, inUse)
					if cmd.Bool("json") {
						if err == nil {
							sendJSON(index.ToolMessage{Kind: index.ToolRemoved, Untagged: res.Untagged, Deleted: res.Deleted})
						}
						return err
					}
					if err != nil {
						switch {
						case errors.Is(err, storage.ErrImageInUse):
							code = 2 // podman's status for an image in use
						case errors.Is(err, storage.ErrImageUnknown) && code != 2:
							code = 1 // podman's for an unknown image
						}
						failed = append(failed, err.Error())
						continue
					}
					for _, n := range res.Untagged {
						fmt.Println("Untagged: " + n)
					}
					if res.Deleted != "" {
						fmt.Println("Deleted: " + res.Deleted)
					}
				}
				if len(failed) > 0 {
					cliutil.PrintError(fmt.Errorf("%s", strings.Join(failed, "; ")))
					return cliutil.ExitError{Code: code}
				}
				return nil
			})
		}),
	}
}
