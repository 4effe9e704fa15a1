package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/internal/format"
	"usandbox/storage"
)

// historyRow is one step of history as --format templates see it:
// podman's fields, as its table prints them.
type historyRow struct {
	ID        string
	Created   string
	CreatedBy string
	Size      string
	Comment   string
	Tags      []string
}

var historyHeaders = format.Headers(historyRow{}, map[string]string{"CreatedBy": "CREATED BY"})

// historyEntry is one step of history --format json, with podman's
// field names (its "Created" repeats "created").
type historyEntry struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"CreatedBy"`
	Size      int64     `json:"size"`
	Comment   string    `json:"comment"`
	Tags      []string  `json:"tags,omitempty"`
	CreatedAt time.Time `json:"Created"`
}

const historyTable = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "show the steps that made an image, newest first (from its config)",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "json, table, or a Go template such as 'table {{.ID}}\t{{.CreatedBy}}\t{{.Size}}'"},
			&cli.BoolFlag{Name: "no-trunc", Aliases: []string{"notruncate"}, Usage: "print full IDs and commands"},
			&cli.BoolFlag{Name: "human", Aliases: []string{"H"}, Value: true, Usage: "sizes and dates for people (false: bytes and RFC 3339)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the IDs"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "history takes exactly one image, got %d arguments", cmd.NArg())
			}
			f := cmd.String("format")
			if format.IsDefaultTable(f) {
				f = historyTable
			}
			t, err := format.Parse("history", f)
			if err != nil {
				return err
			}
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				steps, err := st.History(cmd.Args().First())
				if err != nil {
					return err
				}
				return printHistory(t, steps, cmd.Bool("quiet"), cmd.Bool("no-trunc"), cmd.Bool("human"))
			})
		},
	}
}

func printHistory(t *format.Template, steps []storage.HistoryEntry, quiet, noTrunc, human bool) error {
	id := func(s string) string {
		if !noTrunc && len(s) > 12 {
			return s[:12]
		}
		return s
	}
	if quiet {
		for _, s := range steps {
			fmt.Println(id(s.ID))
		}
		return nil
	}
	if t.IsJSON() {
		out := []historyEntry{}
		for _, s := range steps {
			out = append(out, historyEntry{ID: s.ID, Created: s.Created, CreatedBy: s.CreatedBy, Size: s.Size, Comment: s.Comment, Tags: s.Tags, CreatedAt: s.Created})
		}
		return t.Execute(os.Stdout, out, nil)
	}
	rows := []historyRow{}
	for _, s := range steps {
		r := historyRow{ID: id(s.ID), CreatedBy: s.CreatedBy, Comment: s.Comment, Tags: s.Tags}
		if !noTrunc && len(r.CreatedBy) > 45 {
			r.CreatedBy = r.CreatedBy[:42] + "..."
		}
		if human {
			r.Created = units.HumanDuration(time.Since(s.Created)) + " ago"
			r.Size = historySize(s.Size)
		} else {
			r.Created = s.Created.Format(time.RFC3339)
			r.Size = fmt.Sprint(s.Size)
		}
		rows = append(rows, r)
	}
	return t.Execute(os.Stdout, rows, historyHeaders)
}

// historySize is podman's: "2.13 MB", "0 B".
func historySize(n int64) string {
	s := units.HumanSizeWithPrecision(float64(n), 3)
	i := strings.LastIndexAny(s, "0123456789")
	return s[:i+1] + " " + s[i+1:]
}
