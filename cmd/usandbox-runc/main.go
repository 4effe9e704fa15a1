// Command usandbox-runc is an OCI runtime with runc's command line, for
// podman (--runtime), containerd's runc shim (BinaryName) and so
// Kubernetes (a RuntimeClass): their containers run in usandbox's
// sandbox. See package ociruntime.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/sys/signal"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"usandbox/internal/role"
	"usandbox/nsexec"
	"usandbox/ociruntime"
	"usandbox/sandbox/inner"
)

// version is set at build time (-X main.version=...).
var version = "0.1.0"

func main() {
	if code, ok := runRole(); ok {
		os.Exit(code)
	}
	app := newApp()
	if err := app.Run(context.Background(), os.Args); err != nil {
		var ee exitCode
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		logError(err)
		os.Exit(1)
	}
}

// runRole runs the processes of a container that usandbox-runc is
// re-executed as (package nsexec): the setup of a new container and
// exec's helper.
func runRole() (int, bool) {
	r := role.Current()
	switch r {
	case role.CLI:
		return 0, false
	case role.Sandbox, role.Exec:
		conn, ok := nsexec.Conn()
		if !ok {
			fmt.Fprintf(os.Stderr, "usandbox-runc: %s=%s: not started through nsexec\n", role.Env, r)
			return 125, true
		}
		if r == role.Sandbox {
			return inner.Main(conn), true
		}
		return inner.ExecMain(conn), true
	}
	fmt.Fprintf(os.Stderr, "usandbox-runc: %s=%s: not a role of this binary\n", role.Env, r)
	return 125, true
}

// exitCode is a status to exit with, having said all there is to say.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// The log: --log FILE in --log-format (text or json), as runc writes it;
// errors also go to stderr.
var logFile io.Writer
var logJSON, debug bool

func logLine(level, msg string) {
	if logFile == nil {
		return
	}
	now := time.Now().Format(time.RFC3339Nano)
	if logJSON {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
		fmt.Fprintf(logFile, "%s\n", b)
		return
	}
	fmt.Fprintf(logFile, "time=%q level=%s msg=%q\n", now, level, msg)
}

func logError(err error) {
	logLine("error", err.Error())
	fmt.Fprintln(os.Stderr, "usandbox-runc:", err)
}

func debugf(format string, a ...any) {
	if debug {
		logLine("debug", fmt.Sprintf(format, a...))
	}
}

// defaultRoot is runc's: /run/usandbox-runc for the host's root, else in
// XDG_RUNTIME_DIR (podman runs its runtime as root of its own user
// namespace, with the user's XDG_RUNTIME_DIR).
func defaultRoot() string {
	if os.Geteuid() == 0 && !ociruntime.InUserNS() {
		return "/run/usandbox-runc"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "usandbox-runc")
	}
	return filepath.Join(os.TempDir(), "usandbox-runc-"+strconv.Itoa(os.Geteuid()))
}

var rt = &ociruntime.Runtime{}

var one = 1

func newApp() *cli.Command {
	return &cli.Command{
		Name:    "usandbox-runc",
		Usage:   "run OCI bundles in usandbox's sandbox, with runc's command line",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: defaultRoot(), Usage: "directory of the containers' state"},
			&cli.StringFlag{Name: "log", Usage: "write errors (and --debug messages) to this file"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "accepted for runc's callers; usandbox-runc manages cgroups on the cgroup v2 filesystem and refuses linux.resources with it"},
			&cli.StringFlag{Name: "criu", Hidden: true},
			&cli.StringFlag{Name: "rootless", Hidden: true, Usage: "accepted: usandbox-runc is rootless whenever it runs unprivileged"},
		},
		Before: func(ctx context.Context, cmd *cli.Command) (context.Context, error) {
			rt.Root = cmd.String("root")
			rt.SystemdCgroup = cmd.Bool("systemd-cgroup")
			switch cmd.String("log-format") {
			case "text":
			case "json":
				logJSON = true
			default:
				return ctx, fmt.Errorf("--log-format %q: want text or json", cmd.String("log-format"))
			}
			if p := cmd.String("log"); p != "" {
				f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644)
				if err != nil {
					return ctx, fmt.Errorf("--log: %w", err)
				}
				logFile = f
			}
			debug = cmd.Bool("debug")
			debugf("usandbox-runc %s: %s", version, strings.Join(os.Args, " "))
			return ctx, nil
		},
		Commands: []*cli.Command{
			createCommand(), startCommand(), runCommand(), stateCommand(), killCommand(), deleteCommand(),
			execCommand(), psCommand(), listCommand(), pauseCommand(true), pauseCommand(false), updateCommand(),
			featuresCommand(), specCommand(),
		},
	}
}

func oneID(cmd *cli.Command) (string, error) {
	if cmd.NArg() != 1 {
		return "", fmt.Errorf("%s: give one container ID", cmd.Name)
	}
	return cmd.Args().First(), nil
}

func createFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "the bundle's directory"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the container's init pid here"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that gets the pty's master (process.terminal)"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "refused: pivot_root is what keeps the host's root out of the container"},
		&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "refused unless 0: usandbox-runc passes no fd but stdio into a container"},
	}
}

func createOptions(cmd *cli.Command) (ociruntime.CreateOptions, error) {
	if cmd.Bool("no-pivot") {
		return ociruntime.CreateOptions{}, errors.New("--no-pivot is not supported: usandbox-runc always uses pivot_root, which leaves nothing of the host's root reachable (set NoPivotRoot = false in containerd's runc options)")
	}
	if cmd.Int("preserve-fds") != 0 {
		return ociruntime.CreateOptions{}, errors.New("--preserve-fds is not supported: usandbox-runc closes every fd but stdio before the container's process runs")
	}
	return ociruntime.CreateOptions{Bundle: cmd.String("bundle"), PidFile: cmd.String("pid-file"), ConsoleSocket: cmd.String("console-socket"), NoNewKeyring: cmd.Bool("no-new-keyring")}, nil
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name: "create", Usage: "create a container: its process waits for start", ArgsUsage: "ID",
		Flags: createFlags(),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			o, err := createOptions(cmd)
			if err != nil {
				return err
			}
			return rt.Create(id, o)
		},
	}
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name: "start", Usage: "start a created container's process", ArgsUsage: "ID",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			return rt.Start(id)
		},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name: "run", Usage: "create and start a container; wait for it unless --detach", ArgsUsage: "ID",
		Flags: append(createFlags(), &cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"}),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			o, err := createOptions(cmd)
			if err != nil {
				return err
			}
			code, err := rt.Run(id, o, cmd.Bool("detach"))
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

func stateCommand() *cli.Command {
	return &cli.Command{
		Name: "state", Usage: "print a container's state as JSON", ArgsUsage: "ID",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			rec, err := rt.Load(id)
			if err != nil {
				return err
			}
			return printJSON(rt.StateOf(rec))
		},
	}
}

func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name: "kill", Usage: "send a signal to a container's init (SIGTERM by default)", ArgsUsage: "ID [SIGNAL]",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "to every process of the container"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 || cmd.NArg() > 2 {
				return errors.New("kill: give a container ID and, optionally, a signal")
			}
			sig := unix.SIGTERM
			if cmd.NArg() == 2 {
				s, err := signal.ParseSignal(cmd.Args().Get(1))
				if err != nil {
					return fmt.Errorf("kill: %w", err)
				}
				sig = unix.Signal(s)
			}
			return rt.Kill(cmd.Args().First(), sig, cmd.Bool("all"))
		},
	}
}

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name: "delete", Usage: "delete a stopped container (--force: any)", ArgsUsage: "ID",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it runs"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			return rt.Delete(id, cmd.Bool("force"))
		},
	}
}

func execCommand() *cli.Command {
	return &cli.Command{
		Name: "exec", Usage: "run a process in a container", ArgsUsage: "ID [COMMAND [ARG...]]",
		// Flags end at the container's ID: the rest is the command's.
		StopOnNthArg: &one,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "the process as OCI JSON (process.json)"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the process's pid here"},
			&cli.StringFlag{Name: "console-socket", Usage: "unix socket that gets the pty's master (--tty)"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the process a pty"},
			&cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "KEY=VALUE, added to the container's environment"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "UID[:GID]"},
			&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "supplementary group IDs"},
			&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability"},
			&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 {
				return errors.New("exec: give a container ID")
			}
			id := cmd.Args().First()
			p, err := execProcess(id, cmd)
			if err != nil {
				return err
			}
			code, err := rt.Exec(id, p, ociruntime.ExecOptions{Detach: cmd.Bool("detach"), PidFile: cmd.String("pid-file"), ConsoleSocket: cmd.String("console-socket")})
			var ee *ociruntime.ExitError
			if errors.As(err, &ee) {
				logError(err)
				return exitCode(ee.Code)
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// execProcess is exec's process: --process's file, or the container's
// own process with the command line's changes (as runc builds it).
func execProcess(id string, cmd *cli.Command) (*specs.Process, error) {
	if f := cmd.String("process"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", f, err)
		}
		return &p, nil
	}
	if cmd.NArg() < 2 {
		return nil, errors.New("exec: give a command, or --process")
	}
	rec, err := rt.Load(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(rec.Bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	var cfg specs.Spec
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Process == nil {
		return nil, fmt.Errorf("the bundle's config.json: %v", err)
	}
	p := cfg.Process
	p.Args = cmd.Args().Slice()[1:]
	p.Terminal = cmd.Bool("tty")
	p.ConsoleSize = nil
	if c := cmd.String("cwd"); c != "" {
		p.Cwd = c
	}
	p.Env = append(p.Env, cmd.StringSlice("env")...)
	if u := cmd.String("user"); u != "" {
		uid, gid, hasGID := strings.Cut(u, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: want UID[:GID], numbers", u)
		}
		p.User.UID = uint32(n)
		if hasGID {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: want UID[:GID], numbers", u)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, g := range cmd.Int64Slice("additional-gids") {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if caps := cmd.StringSlice("cap"); len(caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		c := p.Capabilities
		c.Bounding = append(c.Bounding, caps...)
		c.Effective = append(c.Effective, caps...)
		c.Permitted = append(c.Permitted, caps...)
	}
	if cmd.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	return p, nil
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name: "ps", Usage: "list a container's processes", ArgsUsage: "ID [PS_ARGS...]",
		StopOnNthArg: &one,
		Flags:        []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json (the host pids)"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() < 1 {
				return errors.New("ps: give a container ID")
			}
			rec, err := rt.Load(cmd.Args().First())
			if err != nil {
				return err
			}
			pids, err := rt.Pids(rec)
			if err != nil {
				return err
			}
			switch cmd.String("format") {
			case "json":
				if pids == nil {
					pids = []int{}
				}
				b, _ := json.Marshal(pids)
				fmt.Printf("%s\n", b)
				return nil
			case "table":
			default:
				return fmt.Errorf("ps: --format %q: want table or json", cmd.String("format"))
			}
			args := cmd.Args().Slice()[1:]
			if len(args) == 0 {
				args = []string{"-ef"}
			}
			out, err := exec.Command("ps", args...).Output()
			if err != nil {
				return fmt.Errorf("ps: %w", err)
			}
			return filterPs(string(out), pids)
		},
	}
}

// filterPs prints ps's header and the lines of pids (found by ps's PID
// column).
func filterPs(out string, pids []int) error {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return nil
	}
	col := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "PID" {
			col = i
		}
	}
	if col < 0 {
		return errors.New("ps: its output has no PID column")
	}
	fmt.Println(lines[0])
	want := map[string]bool{}
	for _, p := range pids {
		want[strconv.Itoa(p)] = true
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > col && want[f[col]] {
			fmt.Println(l)
		}
	}
	return nil
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name: "list", Aliases: []string{"ls"}, Usage: "list the containers",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "IDs only"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			recs, err := rt.List()
			if err != nil {
				return err
			}
			if cmd.Bool("quiet") {
				for _, r := range recs {
					fmt.Println(r.ID)
				}
				return nil
			}
			switch cmd.String("format") {
			case "json":
				out := []ociruntime.State{}
				for _, r := range recs {
					out = append(out, rt.StateOf(r))
				}
				b, _ := json.Marshal(out)
				fmt.Printf("%s\n", b)
				return nil
			case "table":
			default:
				return fmt.Errorf("list: --format %q: want table or json", cmd.String("format"))
			}
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
			for _, r := range recs {
				st := rt.StateOf(r)
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, st.Pid, st.Status, r.Bundle, r.Created.Format(time.RFC3339Nano), r.Owner)
			}
			return w.Flush()
		},
	}
}

func pauseCommand(on bool) *cli.Command {
	name, usage := "pause", "freeze every process of a container"
	if !on {
		name, usage = "resume", "thaw a paused container"
	}
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "ID",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			return rt.Pause(id, on)
		},
	}
}

func updateCommand() *cli.Command {
	return &cli.Command{
		Name: "update", Usage: "change a container's resources", ArgsUsage: "ID",
		Flags: []cli.Flag{&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "linux.resources as JSON, from this file, or - for stdin"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			f := cmd.String("resources")
			if f == "" {
				return errors.New("update: give --resources FILE (or - for stdin); the single-value flags of runc are not implemented")
			}
			var b []byte
			if f == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(f)
			}
			if err != nil {
				return fmt.Errorf("--resources: %w", err)
			}
			var res specs.LinuxResources
			if err := json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("--resources: %w", err)
			}
			return rt.Update(id, &res)
		},
	}
}

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name: "features", Usage: "print what usandbox-runc implements (runtime-spec features JSON)",
		Action: func(ctx context.Context, cmd *cli.Command) error { return printJSON(ociruntime.Features()) },
	}
}

func specCommand() *cli.Command {
	return &cli.Command{
		Name: "spec", Usage: "write a template config.json in the bundle",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "where to write config.json"},
			&cli.BoolFlag{Name: "rootless", Usage: "for an unprivileged user: a user namespace of the caller's IDs"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			path := filepath.Join(cmd.String("bundle"), "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("spec: %s exists: remove it first", path)
			}
			b, err := json.MarshalIndent(ociruntime.DefaultSpec(cmd.Bool("rootless")), "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(path, append(b, '\n'), 0o644)
		},
	}
}
