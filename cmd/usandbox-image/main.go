// Command usandbox-image is usandbox's image tool: pull, push, images, rmi,
// save, load, login, history and system reset. It is the only binary that
// links containers/image and containers/storage, whose start-up cost (tens of MB of RSS) the sandbox
// runtime must not pay; usandbox hands these commands over to it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage/pkg/reexec"

	"usandbox/internal/cliutil"
	"usandbox/internal/role"
	_ "usandbox/nsexec" // installs the pre-Go-runtime namespace entry
	"usandbox/storage"
	"usandbox/storage/index"
	"usandbox/userns"
)

func main() {
	// containers/storage re-executes this binary for helpers (untar in a
	// chroot): those roles return here.
	if reexec.Init() {
		return
	}
	// Of usandbox's roles (package internal/role), this binary has only
	// the command line, also inside the user namespace.
	if r := role.Current(); r != role.CLI && r != role.UserNS {
		fmt.Fprintf(os.Stderr, "usandbox-image: %s=%s: not a role of this binary\n", role.Env, r)
		os.Exit(cliutil.ExitFailed)
	}
	os.Exit(cliutil.Main(newApp(), os.Args))
}

func newApp() *cli.Command {
	return cliutil.Setup(&cli.Command{
		Name:  "usandbox",
		Usage: "usandbox's image commands (run through usandbox)",
		Flags: cliutil.GlobalFlags(),
		Commands: []*cli.Command{
			pullCommand(),
			imagesCommand(),
			rmiCommand(),
			systemCommand(),
			tagCommand(),
			untagCommand(),
			imagePruneCommand(),
			commitLayerCommand(),
			imageConfigCommand(),
			buildCommand(),
			pushCommand(),
			saveCommand(),
			loadCommand(),
			loginCommand(),
			logoutCommand(),
			historyCommand(),
		},
		UseShortOptionHandling: true,
	})
}

// storeOptions are extra settings for withStore.
type storeOptions struct {
	skipTLSVerify types.OptionalBool
}

// withStore runs fn with the store open, inside the user namespace.
func withStore(ctx context.Context, cmd *cli.Command, so storeOptions, fn func(context.Context, *storage.Store) error) error {
	return cliutil.InUserNS(ctx, cmd, func(ctx context.Context, mode userns.Mode, p index.Paths) error {
		st, err := storage.Open(storage.Options{
			Paths:             p,
			IgnoreChownErrors: mode == userns.Single,
			SkipTLSVerify:     so.skipTLSVerify,
			Warn:              cliutil.Warn,
		})
		if err != nil {
			return err
		}
		err = fn(ctx, st)
		if cerr := st.Close(); err == nil && cerr != nil {
			err = cerr
		}
		return err
	})
}
