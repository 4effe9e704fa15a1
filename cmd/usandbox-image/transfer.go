package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v3"
	"go.podman.io/image/v5/types"
	"golang.org/x/term"

	"usandbox/internal/cliutil"
	"usandbox/storage"
	"usandbox/storage/index"
)

// The commands that take images out of the store (push, save), bring
// archives in (load), and keep registry credentials (login, logout), as
// podman 4.3 has them.

var (
	tlsVerifyFlag = &cli.BoolFlag{Name: "tls-verify", Value: true, Usage: "require HTTPS and verify certificates (false allows plain http)"}
	authFileFlag  = &cli.StringFlag{Name: "authfile", Usage: "the auth file (default $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json; ~/.docker/config.json is read too)"}
	// authStdinFlag: the credentials as JSON on stdin, for package
	// lifecycle (the Docker API's X-Registry-Auth), which must not put a
	// password on a command line that other users can read.
	authStdinFlag = &cli.BoolFlag{Name: "auth-stdin", Hidden: true, Usage: "read {\"username\",\"password\",\"identitytoken\"} from stdin"}
)

// progressFor is the progress a command shows: JSON lines with --json,
// none with -q, else bars on a terminal and lines otherwise (stderr).
func progressFor(cmd *cli.Command) storage.Progress {
	switch {
	case cmd.Bool("json"):
		return storage.JSONProgress(os.Stdout)
	case cmd.Bool("quiet"):
		return nil
	case term.IsTerminal(int(os.Stderr.Fd())):
		return storage.BarProgress(os.Stderr)
	}
	return storage.LineProgress(os.Stderr)
}

// readAuthStdin reads --auth-stdin's credentials.
func readAuthStdin() (*types.DockerAuthConfig, error) {
	var a struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	}
	if err := json.NewDecoder(io.LimitReader(os.Stdin, 1<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("reading the credentials on stdin: %w", err)
	}
	if a.Username == "" && a.Password == "" && a.IdentityToken == "" {
		return nil, nil
	}
	return &types.DockerAuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}, nil
}

// commandCreds are --creds or --auth-stdin's credentials (nil: none).
// Call it inside withStore's function: the command line runs twice, once
// outside the user namespace and once inside, and stdin is read once.
func commandCreds(cmd *cli.Command) (*types.DockerAuthConfig, error) {
	if c := cmd.String("creds"); c != "" {
		return parseCreds(c)
	}
	if cmd.Bool("auth-stdin") {
		return readAuthStdin()
	}
	return nil, nil
}

// parseCreds is --creds USER[:PASS]; without the password it is asked
// for on a terminal, as podman does.
func parseCreds(s string) (*types.DockerAuthConfig, error) {
	user, pass, ok := strings.Cut(s, ":")
	if user == "" {
		return nil, errors.New("--creds needs USER:PASSWORD (the user name is empty)")
	}
	if !ok {
		p, err := askPassword()
		if err != nil {
			return nil, err
		}
		pass = p
	}
	return &types.DockerAuthConfig{Username: user, Password: pass}, nil
}

func askPassword() (string, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", errors.New("no password given, and stdin is not a terminal to ask for one: give it with -p, --password-stdin or --creds USER:PASSWORD")
	}
	fmt.Fprint(os.Stderr, "Password: ")
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return string(b), nil
}

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:  "push",
		Usage: "push an image to a registry, an OCI layout, an archive or a directory",
		ArgsUsage: "IMAGE [DEST] (DEST: HOST/NAME[:TAG] or docker://…, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], dir:DIR;" +
			" without DEST, the registry IMAGE's name says)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress"},
			tlsVerifyFlag,
			&cli.StringFlag{Name: "creds", Usage: "USER[:PASSWORD] for the registry (else the auth file's)"},
			authFileFlag,
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "manifest type: oci or v2s2 (Docker's); default: the image's own"},
			&cli.StringFlag{Name: "digestfile", Usage: "write the pushed manifest's digest to this file"},
			authStdinFlag,
			jsonFlag,
		},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 || cmd.NArg() > 2 {
				return cliutil.UsageError(cmd, "push takes an image and an optional destination, got %d arguments", cmd.NArg())
			}
			o := storage.PushOptions{Format: cmd.String("format"), AuthFile: authFile(cmd)}
			switch o.Format {
			case "", "oci", "v2s2", "docker":
			default:
				return cliutil.UsageError(cmd, "unknown --format %q: use oci or v2s2", o.Format)
			}
			if o.AuthFile != "" {
				if _, err := os.Stat(o.AuthFile); err != nil {
					return fmt.Errorf("--authfile: %w", err)
				}
			}
			dest := cmd.Args().Get(1)
			if dest != "" {
				if _, err := storage.ResolveDestination(dest); err != nil {
					return err
				}
			}
			so := storeOptions{}
			if !cmd.Bool("tls-verify") {
				so.skipTLSVerify = types.OptionalBoolTrue
			}
			return withStore(ctx, cmd, so, func(ctx context.Context, st *storage.Store) error {
				a, err := commandCreds(cmd)
				if err != nil {
					return err
				}
				o.Auth, o.Progress = a, progressFor(cmd)
				res, err := st.Push(ctx, cmd.Args().First(), dest, o)
				if err != nil {
					return err
				}
				if f := cmd.String("digestfile"); f != "" {
					if err := os.WriteFile(f, []byte(res.Digest.String()), 0o644); err != nil {
						return err
					}
				}
				if cmd.Bool("json") {
					sendJSON(index.ToolMessage{Kind: index.ToolImage, Digest: res.Digest.String(), Size: int64(res.Size), Tag: res.Tag})
				}
				return nil
			})
		}),
	}
}

func saveCommand() *cli.Command {
	return &cli.Command{
		Name:      "save",
		Usage:     "write images to an archive file (docker-archive: any number of them; oci-archive: one)",
		ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the archive file (default: stdout, which must not be a terminal)"},
			&cli.StringFlag{Name: "format", Value: storage.DockerArchive, Usage: "docker-archive or oci-archive"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress"},
			&cli.BoolFlag{Name: "multi-image-archive", Aliases: []string{"m"}, Usage: "several images in one docker-archive (always so in usandbox)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 {
				return cliutil.UsageError(cmd, "save needs at least one image")
			}
			f := cmd.String("format")
			switch f {
			case storage.DockerArchive:
			case storage.OCIArchive:
				if cmd.NArg() > 1 {
					return cliutil.UsageError(cmd, "--format oci-archive holds one image, not %d: use docker-archive for several", cmd.NArg())
				}
			default:
				return cliutil.UsageError(cmd, "unknown --format %q: use docker-archive or oci-archive", f)
			}
			out := cmd.String("output")
			if out == "" {
				if term.IsTerminal(int(os.Stdout.Fd())) {
					return errors.New("refusing to save to terminal: use -o FILE or redirect stdout")
				}
				out = "/dev/stdout"
			}
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				return st.Save(ctx, cmd.Args().Slice(), f, out, progressFor(cmd))
			})
		},
	}
}

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:  "load",
		Usage: "store the images of a docker-archive or oci-archive file (or stdin)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "the archive file (default: stdin, which must not be a terminal)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress"},
			jsonFlag,
		},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "load takes no arguments: the archive is -i FILE or stdin")
			}
			in := cmd.String("input")
			if in == "" && term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("cannot read an archive from a terminal: use -i FILE or redirect stdin")
			}
			if in != "" {
				if _, err := os.Stat(in); err != nil {
					return fmt.Errorf("loading %s: %w", in, err)
				}
			}
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				names, err := st.Load(ctx, in, os.Stdin, storage.PullOptions{Progress: progressFor(cmd)})
				if cmd.Bool("json") {
					if err == nil {
						sendJSON(index.ToolMessage{Kind: index.ToolLoaded, Names: names})
					}
					return err
				}
				for _, n := range names {
					fmt.Println("Loaded image: " + n)
				}
				return err
			})
		}),
	}
}

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "check credentials with a registry and save them in the auth file",
		ArgsUsage: "REGISTRY",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name"},
			&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password (visible to other users in the process list: prefer --password-stdin)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
			&cli.BoolFlag{Name: "get-login", Usage: "print the user name saved for the registry"},
			tlsVerifyFlag,
			authFileFlag,
			&cli.BoolFlag{Name: "check", Hidden: true, Usage: "check the credentials only, save nothing (the Docker API's /auth)"},
			authStdinFlag,
			jsonFlag,
		},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "login takes exactly one registry, got %d arguments", cmd.NArg())
			}
			o := storage.AuthOptions{Registry: cmd.Args().First(), Username: cmd.String("username"), Password: cmd.String("password"), AuthFile: authFile(cmd)}
			if !cmd.Bool("tls-verify") {
				o.SkipTLSVerify = types.OptionalBoolTrue
			}
			if cmd.Bool("get-login") {
				user, _, err := storage.StoredLogin(o)
				if err != nil {
					return err
				}
				if user == "" {
					return fmt.Errorf("not logged into %s", o.Registry)
				}
				fmt.Println(user)
				return nil
			}
			switch {
			case cmd.Bool("auth-stdin"):
				a, err := readAuthStdin()
				if err != nil {
					return err
				}
				if a != nil {
					o.Username, o.Password = a.Username, a.Password
				}
			case cmd.Bool("password-stdin"):
				if o.Password != "" {
					return cliutil.UsageError(cmd, "give the password with -p or --password-stdin, not both")
				}
				if o.Username == "" {
					return cliutil.UsageError(cmd, "--password-stdin needs the user name: add -u USER")
				}
				b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
				if err != nil {
					return fmt.Errorf("reading the password from stdin: %w", err)
				}
				o.Password = strings.TrimRight(string(b), "\r\n")
			}
			if cmd.Bool("check") {
				return storage.CheckLogin(ctx, o)
			}
			if o.Username == "" && o.Password == "" {
				// podman: stored credentials that still work are enough.
				if user, pass, err := storage.StoredLogin(o); err == nil && user != "" {
					fmt.Println("Authenticating with existing credentials for " + o.Registry)
					check := o
					check.Username, check.Password = user, pass
					if err := storage.CheckLogin(ctx, check); err == nil {
						fmt.Println("Existing credentials are valid. Already logged in to " + o.Registry)
						return nil
					}
					fmt.Println("Existing credentials are invalid, please enter valid username and password")
				}
			}
			if o.Username == "" {
				if !term.IsTerminal(int(os.Stdin.Fd())) {
					return cliutil.UsageError(cmd, "no user name given: add -u USER")
				}
				fmt.Fprint(os.Stderr, "Username: ")
				line, err := bufio.NewReader(os.Stdin).ReadString('\n')
				if err != nil {
					return fmt.Errorf("reading the user name: %w", err)
				}
				o.Username = strings.TrimSpace(line)
			}
			if o.Password == "" {
				p, err := askPassword()
				if err != nil {
					return err
				}
				o.Password = p
			}
			if _, err := storage.Login(ctx, o); err != nil {
				return err
			}
			fmt.Println("Login Succeeded!")
			return nil
		}),
	}
}

func logoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "remove a registry's credentials from the auth file",
		ArgsUsage: "REGISTRY",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every registry's credentials"},
			authFileFlag,
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			all := cmd.Bool("all")
			switch {
			case all && cmd.NArg() > 0:
				return cliutil.UsageError(cmd, "logout --all takes no registry")
			case !all && cmd.NArg() != 1:
				return cliutil.UsageError(cmd, "logout takes exactly one registry (or --all), got %d arguments", cmd.NArg())
			}
			o := storage.AuthOptions{Registry: cmd.Args().First(), AuthFile: authFile(cmd)}
			if err := storage.Logout(o, all); err != nil {
				return err
			}
			if all {
				fmt.Println("Removed login credentials for all registries")
			} else {
				fmt.Println("Removed login credentials for " + o.Registry)
			}
			return nil
		},
	}
}

// authFile is --authfile, else $REGISTRY_AUTH_FILE (podman's), else ""
// (the default places).
func authFile(cmd *cli.Command) string {
	if f := cmd.String("authfile"); f != "" {
		return f
	}
	return os.Getenv("REGISTRY_AUTH_FILE")
}
