package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
)

// importCommand is podman's import: FILE|- [NAME].
func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "make an image of one layer from a tar archive of a root filesystem (- for stdin)",
		ArgsUsage: "FILE|- [IMAGE]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply a Dockerfile instruction to the image's config (CMD, ENTRYPOINT, ENV, …)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "the history entry's comment"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID (usandbox prints nothing else)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 || cmd.NArg() > 2 {
				return cliutil.UsageError(cmd, "import takes a tar file (or -) and, optionally, the new image's name")
			}
			e, err := imageEngine(cmd)
			if err != nil {
				return err
			}
			src := cmd.Args().First()
			if src == "-" {
				tmp, err := os.CreateTemp("", "usandbox-import-")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				_, err = io.Copy(tmp, os.Stdin)
				if cerr := tmp.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("reading the archive from stdin: %w", err)
				}
				src = tmp.Name()
			} else if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
				return cliutil.UsageError(cmd, "%s is not a tar file", src)
			}
			if src, err = filepath.Abs(src); err != nil {
				return err
			}
			im, err := e.Import(ctx, src, lifecycle.ImportOptions{Name: cmd.Args().Get(1), Changes: cmd.StringSlice("change"), Message: cmd.String("message")})
			if err != nil {
				return err
			}
			fmt.Println(im.ID)
			return nil
		},
	}
}
