package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"usandbox/internal/archive"
	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
)

func cpCommand() *cli.Command {
	return &cli.Command{
		Name:  "cp",
		Usage: "copy files between a sandbox and the host",
		Description: `One of SRC and DEST is SANDBOX:PATH (a name or an ID), the other a host path, or - for
a tar stream on stdin or stdout. The sandbox may be running, paused, stopped or only created.
As docker cp: a directory is copied with what is below it; SRC ending in /. copies the
directory's contents; a DEST that exists as a directory receives SRC inside it, else DEST is
the new name; DEST's parent directory must exist.

Every path inside the sandbox is resolved inside its root, as the sandbox sees it (its
volumes included): a symlink in the sandbox never leads cp to a file of the host.

Files copied into a sandbox belong to its root, or with -a to their owners on the host as the
sandbox sees them (the caller is the sandbox's root); a tar stream's owners are taken as the
sandbox's IDs with -a. Files copied out belong to the caller (as podman's rootless cp); a tar
stream to stdout keeps the sandbox's IDs.`,
		ArgsUsage: "SRC DEST",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "keep the owners of what is copied into the sandbox"},
			&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "copy what SRC's symlink names, not the link"},
			&cli.BoolFlag{Name: "overwrite", Usage: "let a directory replace a non-directory and the other way round"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return cliutil.UsageError(cmd, "cp takes exactly two arguments, SRC and DEST")
			}
			src, dst := cmd.Args().Get(0), cmd.Args().Get(1)
			srcSB, srcPath := splitCpArg(src)
			dstSB, dstPath := splitCpArg(dst)
			switch {
			case srcSB == "" && dstSB == "":
				return cliutil.UsageError(cmd, "one of SRC and DEST must be SANDBOX:PATH, the other a host path or -")
			case srcSB != "" && dstSB != "":
				return cliutil.UsageError(cmd, "copying between sandboxes is not supported: copy to the host first")
			case srcSB == "" && srcPath == "-" && cmd.Bool("follow-link"):
				return cliutil.UsageError(cmd, "-L has no link to follow in a tar stream")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			if srcSB != "" {
				return copyOut(ctx, e, srcSB, srcPath, dstPath, cmd.Bool("follow-link"))
			}
			return copyIn(ctx, e, srcPath, dstSB, dstPath, cmd.Bool("archive"), cmd.Bool("follow-link"), cmd.Bool("overwrite"))
		},
	}
}

// splitCpArg is docker's: an absolute path or one starting with . is a
// host path; else NAME:PATH names a sandbox's.
func splitCpArg(arg string) (sb, path string) {
	if filepath.IsAbs(arg) || arg == "-" {
		return "", arg
	}
	name, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(name, ".") || name == "" {
		return "", arg
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // relative to the sandbox's root, as podman
	}
	return name, p
}

// hostAbs is p absolute, with its trailing "/." or "/" kept.
func hostAbs(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return archive.PreserveTrailingDotOrSeparator(abs, p), nil
}

func hostNotFound(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%q could not be found on the host: no such file or directory", p)
	}
	return err
}

// copyOut copies sandbox:src to the host path dst (or stdout).
func copyOut(ctx context.Context, e *lifecycle.Engine, sb, src, dst string, follow bool) error {
	var rebase string
	if follow {
		st, err := e.StatPath(ctx, sb, src)
		if err != nil {
			return err
		}
		if st.Mode&os.ModeSymlink != 0 && st.LinkTarget != "" {
			src, rebase = archive.GetRebaseName(src, st.LinkTarget)
		}
	}
	var dstInfo archive.CopyInfo
	if dst != "-" {
		abs, err := hostAbs(dst)
		if err != nil {
			return err
		}
		if dstInfo, err = archive.CopyInfoDestinationPath(abs); err != nil {
			return hostNotFound(dst, err)
		}
	}
	content, st, err := e.CopyFrom(ctx, sb, src)
	if err != nil {
		return err
	}
	defer content.Close()
	if dst == "-" {
		if _, err := io.Copy(os.Stdout, content); err != nil {
			return err
		}
		return content.Close()
	}
	srcInfo := archive.CopyInfo{Path: src, Exists: true, IsDir: st.Mode.IsDir(), RebaseName: rebase}
	var pre io.Reader = content
	if rebase != "" {
		_, srcBase := archive.SplitPathDirEntry(src)
		pre = archive.RebaseArchiveEntries(content, srcBase, rebase)
	}
	dir, prepared, err := archive.PrepareArchiveCopy(pre, srcInfo, dstInfo)
	if err != nil {
		return fmt.Errorf("copying %s:%s to %s: %w", sb, src, dst, err)
	}
	defer prepared.Close()
	// The destination directory is the root of the extraction: nothing
	// the sandbox put in the stream lands outside it.
	root, err := archive.OpenRoot(dir)
	if err != nil {
		return hostNotFound(dir, err)
	}
	defer root.Close()
	if err := root.Extract(prepared, "/", archive.ExtractOptions{NoOverwriteDirNonDir: true}); err != nil {
		return err
	}
	return content.Close()
}

// copyIn copies the host path src (or stdin) to sandbox:dst.
func copyIn(ctx context.Context, e *lifecycle.Engine, src, sb, dst string, keepOwners, follow, overwrite bool) error {
	dstInfo := archive.CopyInfo{Path: dst}
	st, err := e.StatPath(ctx, sb, dst)
	if err == nil && st.Mode&os.ModeSymlink != 0 && st.LinkTarget != "" {
		dstInfo.Path = st.LinkTarget
		st, err = e.StatPath(ctx, sb, st.LinkTarget)
	}
	switch {
	case err == nil:
		if !st.Mode.IsDir() && !st.Mode.IsRegular() {
			return fmt.Errorf("destination %q must be a directory or a regular file", sb+":"+dst)
		}
		dstInfo.Exists, dstInfo.IsDir = true, st.Mode.IsDir()
	case !errors.Is(err, lifecycle.ErrNoSuchPath):
		return err
	}
	o := lifecycle.CopyOptions{NoOverwriteDirNonDir: !overwrite, CopyUIDGID: keepOwners}
	if src == "-" {
		if !dstInfo.IsDir {
			return fmt.Errorf("destination %q must be a directory", sb+":"+dst)
		}
		return e.CopyTo(ctx, sb, dstInfo.Path, os.Stdin, o)
	}
	abs, err := hostAbs(src)
	if err != nil {
		return err
	}
	srcInfo, err := archive.CopyInfoSourcePath(abs, follow)
	if err != nil {
		return hostNotFound(src, err)
	}
	var ids func(uid, gid uint32) (int, int)
	if keepOwners {
		if ids, err = e.HostIDs(ctx, sb); err != nil {
			return err
		}
	}
	host, err := archive.OpenRoot("/")
	if err != nil {
		return err
	}
	defer host.Close()
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		name := srcInfo.RebaseName
		pw.CloseWithError(host.Archive(pw, srcInfo.Path, archive.ArchiveOptions{Name: name, IDs: ids}))
	}()
	dir, prepared, err := archive.PrepareArchiveCopy(pr, srcInfo, dstInfo)
	if err != nil {
		return fmt.Errorf("copying %s to %s:%s: %w", src, sb, dst, err)
	}
	defer prepared.Close()
	return e.CopyTo(ctx, sb, dir, prepared, o)
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write a sandbox's root filesystem as a tar archive",
		Description: `Writes the sandbox's whole root filesystem (its image's layers and its changes; not
what is mounted on it, such as volumes or /proc) to stdout, or to FILE with -o. A terminal is
refused as stdout. The sandbox may be running, paused, stopped or only created.`,
		ArgsUsage: "SANDBOX",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "export takes exactly one sandbox")
			}
			out := cmd.String("output")
			if out == "" && term.IsTerminal(int(os.Stdout.Fd())) {
				return errors.New("refusing to export to terminal: use -o FILE or redirect stdout")
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			content, err := e.Export(ctx, cmd.Args().First())
			if err != nil {
				return err
			}
			defer content.Close()
			if out == "" {
				if _, err := io.Copy(os.Stdout, content); err != nil {
					return err
				}
				return content.Close()
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, content)
			if err == nil {
				err = content.Close()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out) // a half-written archive is no archive
				return err
			}
			return nil
		},
	}
}
