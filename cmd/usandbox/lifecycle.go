package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"usandbox/internal/cliutil"
	"usandbox/network"
	"usandbox/sandbox"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
	"usandbox/userns"
)

func psCommand() *cli.Command {
	return &cli.Command{
		Name:    "ps",
		Aliases: []string{"list"},
		Usage:   "list sandboxes",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show stopped sandboxes too"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs and commands"},
			&cli.StringFlag{Name: "format", Usage: "table or json"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			format, err := cliutil.Format(cmd)
			if err != nil {
				return err
			}
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "ps takes no arguments")
			}
			p, err := cliutil.Paths(cmd)
			if err != nil {
				return err
			}
			// Best effort: a store this user may not write is listed all
			// the same.
			sandbox.Reclaim(p)
			all, err := sandbox.List(p)
			if err != nil {
				return err
			}
			var list []*sandbox.Sandbox
			for _, sb := range all {
				if cmd.Bool("all") || sb.State.Running {
					list = append(list, sb)
				}
			}
			noTrunc := cmd.Bool("no-trunc")
			id := func(s string) string {
				if noTrunc {
					return s
				}
				return sandbox.ShortID(s)
			}
			switch {
			case format == "json":
				if list == nil {
					list = []*sandbox.Sandbox{}
				}
				return cliutil.PrintJSON(psJSON(list))
			case cmd.Bool("quiet"):
				for _, sb := range list {
					fmt.Println(id(sb.ID))
				}
				return nil
			}
			now := time.Now()
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "SANDBOX ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
			for _, sb := range list {
				command := strings.Join(sb.Command, " ")
				if !noTrunc && len(command) > 20 {
					command = command[:19] + "…"
				}
				fmt.Fprintf(w, "%s\t%s\t%q\t%s ago\t%s\t%s\t%s\n", id(sb.ID), sb.Image, command,
					humanAgo(now.Sub(sb.Created)), sb.StatusString(now), portsString(sb.Ports), sb.Name)
			}
			return w.Flush()
		},
	}
}

func humanAgo(d time.Duration) string {
	s := (&sandbox.Sandbox{State: sandbox.State{Status: sandbox.StatusRunning, StartedAt: time.Now().Add(-d)}}).StatusString(time.Now())
	return strings.TrimPrefix(s, "Up ")
}

func portsString(ps []network.Port) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

func portCommand() *cli.Command {
	return &cli.Command{
		Name:      "port",
		Usage:     "list a sandbox's published ports",
		ArgsUsage: "SANDBOX",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "port takes exactly one sandbox")
			}
			sb, err := firstSandbox(cmd)
			if err != nil {
				return err
			}
			for _, pt := range sb.Ports {
				host := pt.HostIP
				if host == "" {
					host = "0.0.0.0"
				}
				fmt.Printf("%d/%s -> %s\n", pt.Container, pt.Proto, net.JoinHostPort(host, strconv.Itoa(pt.HostPort)))
			}
			return nil
		},
	}
}

type psEntry struct {
	ID      string         `json:"Id"`
	Names   []string       `json:"Names"`
	Image   string         `json:"Image"`
	ImageID string         `json:"ImageID"`
	Command []string       `json:"Command"`
	Created time.Time      `json:"Created"`
	State   string         `json:"State"`
	Status  string         `json:"Status"`
	Pid     int            `json:"Pid"`
	Exited  bool           `json:"Exited"`
	Code    int            `json:"ExitCode"`
	Ports   []network.Port `json:"Ports"`
}

func psJSON(list []*sandbox.Sandbox) []psEntry {
	out := []psEntry{}
	now := time.Now()
	for _, sb := range list {
		out = append(out, psEntry{
			ID: sb.ID, Names: []string{sb.Name}, Image: sb.Image, ImageID: sb.ImageID, Command: sb.Command,
			Created: sb.Created, State: sb.State.Status, Status: sb.StatusString(now), Pid: sb.State.Pid,
			Exited: sb.State.Status == sandbox.StatusExited, Code: sb.State.ExitCode, Ports: sb.Ports,
		})
	}
	return out
}

// opLock serializes the commands that change one sandbox (start, stop,
// kill, rm): a lock per sandbox in the run root.
func opLock(p index.Paths, id string) (func(), error) {
	dir := filepath.Join(p.RunRoot, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, id+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		os.Remove(f.Name())
		f.Close()
	}, nil
}

// firstSandbox looks up the sandbox named by the first argument.
func firstSandbox(cmd *cli.Command) (*sandbox.Sandbox, error) {
	p, err := cliutil.Paths(cmd)
	if err != nil {
		return nil, err
	}
	return sandbox.Lookup(p, cmd.Args().First())
}

// lockedSandbox looks a sandbox up and takes its operation lock.
func lockedSandbox(p index.Paths, ref string) (*sandbox.Sandbox, func(), error) {
	sb, err := sandbox.Lookup(p, ref)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := opLock(p, sb.ID)
	if err != nil {
		return nil, nil, err
	}
	return sb, unlock, nil
}

// eachSandbox runs fn for every argument, printing what fails (one line
// each) and failing at the end if anything did, as docker does.
func eachSandbox(cmd *cli.Command, fn func(p index.Paths, ref string) error) error {
	if cmd.NArg() == 0 {
		return cliutil.UsageError(cmd, "%s needs at least one sandbox", cmd.Name)
	}
	p, err := cliutil.Paths(cmd)
	if err != nil {
		return err
	}
	var errs []string
	for _, ref := range cmd.Args().Slice() {
		if err := fn(p, ref); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start stopped sandboxes again (their upper layer kept)",
		ArgsUsage: "SANDBOX...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachSandbox(cmd, func(p index.Paths, ref string) error {
				sb, unlock, err := lockedSandbox(p, ref)
				if err != nil {
					return err
				}
				defer unlock()
				if sandbox.Locked(sb.Dir) {
					return fmt.Errorf("%w: %s", sandbox.ErrRunning, ref)
				}
				if err := sb.Damaged(); err != nil {
					return err
				}
				if _, err := startDetached(p, sb); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

// signalInit sends sig to a running sandbox's init, which passes it on to
// the command (SIGKILL ends the init and so the whole sandbox).
func signalInit(sb *sandbox.Sandbox, sig unix.Signal) error {
	if !sb.State.Running || sb.State.Pid <= 0 {
		return fmt.Errorf("%w: %s", sandbox.ErrNotRunning, sandbox.ShortID(sb.ID))
	}
	// A pidfd pins the process: the pid cannot be recycled under us.
	fd, err := unix.PidfdOpen(sb.State.Pid, 0)
	if err != nil {
		return fmt.Errorf("%w: %s", sandbox.ErrNotRunning, sandbox.ShortID(sb.ID))
	}
	defer unix.Close(fd)
	if !sandbox.Locked(sb.Dir) {
		return fmt.Errorf("%w: %s", sandbox.ErrNotRunning, sandbox.ShortID(sb.ID))
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && err != unix.ESRCH {
		return fmt.Errorf("signalling %s: %w", sandbox.ShortID(sb.ID), err)
	}
	return nil
}

// waitStopped waits up to d (forever if d < 0) for the sandbox's init to
// end.
func waitStopped(sb *sandbox.Sandbox, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for sandbox.Locked(sb.Dir) {
		if d >= 0 && time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop sandboxes: SIGTERM (or the image's StopSignal), SIGKILL after the grace period",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			grace := time.Duration(cmd.Int("time")) * time.Second
			return eachSandbox(cmd, func(p index.Paths, ref string) error {
				sb, unlock, err := lockedSandbox(p, ref)
				if err != nil {
					return err
				}
				defer unlock()
				if err := stopSandbox(sb, grace); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

func stopSandbox(sb *sandbox.Sandbox, grace time.Duration) error {
	sig := unix.SIGTERM
	if grace > 0 {
		if err := signalInit(sb, sig); err != nil {
			return err
		}
		if waitStopped(sb, grace) {
			return nil
		}
	} else if !sb.State.Running {
		return fmt.Errorf("%w: %s", sandbox.ErrNotRunning, sandbox.ShortID(sb.ID))
	}
	// cgroup.kill takes every process at once; the init's death does too.
	sb.KillCgroup()
	if err := signalInit(sb, unix.SIGKILL); err != nil && !errors.Is(err, sandbox.ErrNotRunning) {
		return err
	}
	waitStopped(sb, 10*time.Second)
	return nil
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "send a signal to sandboxes (default SIGKILL)",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			sig, err := parseSignal(cmd.String("signal"))
			if err != nil {
				return cliutil.UsageError(cmd, "%v", err)
			}
			return eachSandbox(cmd, func(p index.Paths, ref string) error {
				sb, err := sandbox.Lookup(p, ref)
				if err != nil {
					return err
				}
				if sig == unix.SIGKILL && sb.State.Running {
					sb.KillCgroup()
				}
				if err := signalInit(sb, sig); err != nil && !(sig == unix.SIGKILL && errors.Is(err, sandbox.ErrNotRunning) && sb.State.Running) {
					return err
				}
				if sig == unix.SIGKILL {
					waitStopped(sb, 10*time.Second)
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

// parseSignal takes "KILL", "SIGKILL", "9".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove sandboxes: record, upper layer, state",
		ArgsUsage: "SANDBOX...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running sandbox first"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachSandbox(cmd, func(p index.Paths, ref string) error {
				sb, unlock, err := lockedSandbox(p, ref)
				if err != nil {
					return err
				}
				defer unlock()
				if sandbox.Locked(sb.Dir) {
					if !cmd.Bool("force") {
						return fmt.Errorf("%w: %s: stop it first, or use rm -f", sandbox.ErrRunning, ref)
					}
					if err := stopSandbox(sb, 0); err != nil && !errors.Is(err, sandbox.ErrNotRunning) {
						return err
					}
				}
				if err := removeSandbox(sb); err != nil {
					return err
				}
				fmt.Println(ref)
				return nil
			})
		},
	}
}

// removeArg is the hidden command that removes sandbox directories inside
// the user namespace.
const removeArg = "__remove-sandboxes"

// removeSandbox deletes a stopped sandbox. Its upper layer holds files of
// the sandbox's IDs, which only the user namespace may delete: that part
// runs in a copy of this binary there.
func removeSandbox(sb *sandbox.Sandbox) error {
	if sandbox.Locked(sb.Dir) {
		return fmt.Errorf("%w: %s", sandbox.ErrRunning, sandbox.ShortID(sb.ID))
	}
	return removeSandboxDir(sb.Dir)
}

// removeSandboxDir deletes a sandbox directory that nothing uses, in the
// user namespace (see removeSandbox).
func removeSandboxDir(dir string) error {
	if os.Geteuid() == 0 {
		return os.RemoveAll(dir)
	}
	plan, err := userns.Detect()
	if err != nil {
		return err
	}
	code, err := plan.ReexecArgs([]string{"usandbox", removeArg, dir})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("removing %s failed (exit %d)", sandbox.ShortID(filepath.Base(dir)), code)
	}
	return nil
}

// removeMain runs in the user namespace: it removes sandbox directories.
func removeMain(dirs []string) int {
	if _, inside := userns.InNamespace(); !inside {
		fmt.Fprintln(os.Stderr, "Error: "+removeArg+" runs only inside usandbox's user namespace")
		return cliutil.ExitFailed
	}
	for _, d := range dirs {
		if filepath.Base(filepath.Dir(d)) != "sandboxes" {
			fmt.Fprintln(os.Stderr, "Error: not a sandbox directory: "+d)
			return cliutil.ExitFailed
		}
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintln(os.Stderr, "Error: "+err.Error())
			return cliutil.ExitFailed
		}
	}
	return 0
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait for sandboxes to stop and print their exit codes",
		ArgsUsage: "SANDBOX...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachSandbox(cmd, func(p index.Paths, ref string) error {
				sb, err := sandbox.Lookup(p, ref)
				if err != nil {
					return err
				}
				waitStopped(sb, -1)
				sb, err = sandbox.Load(p, sb.ID)
				if err != nil {
					// An --rm sandbox is gone once it stops.
					fmt.Println(0)
					return nil
				}
				fmt.Println(sb.State.ExitCode)
				return nil
			})
		},
	}
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a sandbox or an image as JSON",
		ArgsUsage: "SANDBOX|IMAGE...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			var out []any
			err := eachSandbox(cmd, func(p index.Paths, ref string) error {
				sb, err := sandbox.Lookup(p, ref)
				if err == nil {
					out = append(out, inspectSandbox(sb))
					return nil
				}
				if !errors.Is(err, sandbox.ErrNoSuchSandbox) {
					return err
				}
				ix, ierr := index.Read(p)
				if ierr != nil {
					return ierr
				}
				im, ierr := ix.Lookup(ref)
				if ierr != nil {
					return fmt.Errorf("no such sandbox or image: %s", ref)
				}
				out = append(out, im)
				return nil
			})
			if len(out) > 0 {
				if perr := cliutil.PrintJSON(out); perr != nil {
					return perr
				}
			}
			return err
		},
	}
}

func inspectSandbox(sb *sandbox.Sandbox) map[string]any {
	if sb.Damaged() != nil {
		// Nothing but what the directory says: the record is unreadable.
		return map[string]any{
			"Id": sb.ID, "State": sb.State, "LogPath": filepath.Join(sb.Dir, sandbox.LogFile),
		}
	}
	s := sb.Spec
	var mounts []map[string]any
	for _, m := range s.Mounts[3:] {
		mounts = append(mounts, map[string]any{"Type": m.Type, "Source": m.Source, "Destination": m.Destination, "RW": !m.ReadOnly, "Options": m.Options})
	}
	if mounts == nil {
		mounts = []map[string]any{}
	}
	return map[string]any{
		"Id":        sb.ID,
		"Name":      sb.Name,
		"Created":   sb.Created,
		"Path":      sb.Command[0],
		"Args":      sb.Command[1:],
		"State":     sb.State,
		"Image":     "sha256:" + sb.ImageID,
		"ImageName": sb.Image,
		"Config": map[string]any{
			"Hostname": s.Hostname, "User": s.Process.User, "Env": s.Process.Env, "Cmd": sb.Command,
			"WorkingDir": s.Process.Cwd, "Tty": s.Process.Terminal,
		},
		"HostConfig": map[string]any{
			"Memory": sb.Limits.Memory, "MemorySwap": sb.Limits.MemorySwap, "NanoCpus": sb.Limits.CPUQuota * 1e9 / max(sb.Limits.CPUPeriod, 1),
			"CpuWeight": sb.Limits.CPUWeight, "CpusetCpus": sb.Limits.CpusetCpus, "PidsLimit": sb.Limits.PidsLimit,
			"AutoRemove": sb.AutoRemove, "ReadonlyRootfs": s.ReadOnly, "NetworkMode": s.Network,
			"CapAdd": s.Capabilities, "NoNewPrivileges": s.NoNewPrivileges,
			"Privileged": s.Privileged, "SecurityOpt": securityOpt(s),
		},
		"Mounts": mounts,
		"Ports":  sb.Ports,
		"NetworkSettings": map[string]any{
			"Ports": sb.Ports, "Mode": s.Network, "Options": s.NetworkOptions,
		},
		"LogPath": filepath.Join(sb.Dir, sandbox.LogFile),
		"GraphDriver": map[string]any{
			"Name": "overlay", "UpperDir": s.Rootfs.Upper, "WorkDir": s.Rootfs.Work,
		},
	}
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a detached sandbox's output",
		ArgsUsage: "SANDBOX",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the sandbox stops"},
			&cli.StringFlag{Name: "tail", Value: "all", Usage: "only the last N lines"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "prefix each line with its time"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 1 {
				return cliutil.UsageError(cmd, "logs takes exactly one sandbox")
			}
			tail := -1
			if t := cmd.String("tail"); t != "all" {
				n, err := strconv.Atoi(t)
				if err != nil || n < 0 {
					return cliutil.UsageError(cmd, "--tail must be a number or all, not %q", t)
				}
				tail = n
			}
			sb, err := firstSandbox(cmd)
			if err != nil {
				return err
			}
			return printLogs(sb, tail, cmd.Bool("timestamps"), cmd.Bool("follow"))
		},
	}
}

func printLogs(sb *sandbox.Sandbox, tail int, timestamps, follow bool) error {
	path := filepath.Join(sb.Dir, sandbox.LogFile)
	emit := func(e sandbox.LogEntry) {
		w := os.Stdout
		if e.Stream == "stderr" {
			w = os.Stderr
		}
		text := e.Text
		if timestamps {
			text = e.Time.Format(time.RFC3339Nano) + " " + text
		}
		if e.Partial {
			fmt.Fprint(w, text)
		} else {
			fmt.Fprintln(w, text)
		}
	}
	var lines []string
	var size int64 // of the current log, read so far
	for _, f := range []string{path + ".1", path} {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		if f == path {
			size = int64(len(b))
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	if tail >= 0 && len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	for _, l := range lines {
		if e, ok := sandbox.ParseLogLine(l); ok {
			emit(e)
		}
	}
	if !follow {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		if sandbox.Locked(sb.Dir) {
			return err
		}
		return nil
	}
	defer f.Close()
	// Continue where the read above ended.
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(f)
	var pending string
	for {
		chunk, err := br.ReadString('\n')
		pending += chunk
		if err == nil {
			if e, ok := sandbox.ParseLogLine(strings.TrimSuffix(pending, "\n")); ok {
				emit(e)
			}
			pending = ""
			continue
		}
		if !sandbox.Locked(sb.Dir) {
			// Stopped: print what the monitor wrote last, then end.
			rest, _ := io.ReadAll(br)
			for _, l := range strings.Split(pending+string(rest), "\n") {
				if e, ok := sandbox.ParseLogLine(l); ok {
					emit(e)
				}
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// systemCommand: reset removes every sandbox (killing running ones), then
// hands over to usandbox-image for the images and the rest.
func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "manage usandbox's own data",
		Commands: []*cli.Command{checkCommand(), {
			Name:  "reset",
			Usage: "remove every sandbox, image and all state",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if !cmd.Bool("force") {
					return cliutil.UsageError(cmd, "system reset removes all images and sandboxes: add --force to confirm")
				}
				p, err := cliutil.Paths(cmd)
				if err != nil {
					return err
				}
				all, err := sandbox.List(p)
				if err != nil {
					return err
				}
				for _, sb := range all {
					if err := forceRemove(p, sb); err != nil {
						return err
					}
				}
				// What has no record (a Create killed midway, a lost
				// record) and the run root's leftovers.
				found, err := sandbox.Check(p, removeSandboxDir)
				if err != nil {
					return err
				}
				for _, f := range found {
					if f.Err != nil {
						return f.Err
					}
				}
				return execImageTool(os.Args[1:])
			},
		}},
	}
}

// securityOpt is the sandbox's security options as docker shows them: the
// seccomp profile in effect ("default" is docker's) and no-new-privileges.
func securityOpt(s spec.Spec) []string {
	prof := s.SeccompProfile
	if prof == "" {
		prof = "default"
	}
	out := []string{"seccomp=" + prof}
	if s.NoNewPrivileges {
		out = append(out, "no-new-privileges")
	}
	return out
}

// rmiCommand hands rmi to usandbox-image; with -f it first removes the
// sandboxes made from those images (podman's rmi -f), so that no sandbox
// is ever left whose layers are gone. Without -f, usandbox-image refuses
// an image in use (exit 2, naming the sandboxes).
func rmiCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmi",
		Usage:     "remove images (-f: and the sandboxes made from them)",
		ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove the sandboxes that use the image first"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Bool("force") && cmd.NArg() > 0 {
				p, err := cliutil.Paths(cmd)
				if err != nil {
					return err
				}
				if ix, err := index.Read(p); err == nil {
					for _, ref := range cmd.Args().Slice() {
						im, err := ix.Lookup(ref)
						if err != nil {
							continue // usandbox-image says what is wrong
						}
						if err := removeSandboxesOf(p, im.ID); err != nil {
							return err
						}
					}
				}
			}
			return execImageTool(os.Args[1:])
		},
	}
}

// removeSandboxesOf stops and removes every sandbox made from image id.
func removeSandboxesOf(p index.Paths, id string) error {
	all, err := sandbox.List(p)
	if err != nil {
		return err
	}
	for _, sb := range all {
		if sb.ImageID != id {
			continue
		}
		if err := forceRemove(p, sb); err != nil {
			return err
		}
	}
	return nil
}

// forceRemove stops sb if it runs and removes it, under its operation
// lock (system reset, rmi -f).
func forceRemove(p index.Paths, sb *sandbox.Sandbox) error {
	unlock, err := opLock(p, sb.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if sandbox.Locked(sb.Dir) {
		if err := stopSandbox(sb, 0); err != nil && !errors.Is(err, sandbox.ErrNotRunning) {
			return err
		}
	}
	return removeSandbox(sb)
}

// checkCommand is podman's system check, simpler: one line per
// inconsistency of the store, mended with --repair. Exit 0 when nothing is
// left wrong, 1 when something was found and not repaired.
func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "find (and with --repair mend) inconsistencies of the store: sandboxes without layers or record, --rm leftovers, stale run-root state",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "repair", Usage: "remove what is broken or left over (never a running sandbox)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "system check takes no arguments")
			}
			p, err := cliutil.Paths(cmd)
			if err != nil {
				return err
			}
			var remove func(string) error
			if cmd.Bool("repair") {
				remove = removeSandboxDir
			}
			found, err := sandbox.Check(p, remove)
			if err != nil {
				return err
			}
			left := 0
			for _, f := range found {
				what := "sandbox"
				if f.Path != "" {
					what = "run root"
				}
				line := fmt.Sprintf("%s %s: %s: %s", what, sandbox.ShortID(f.ID), f.Kind, f.Detail)
				switch {
				case f.Repaired:
					line += " (repaired)"
				case f.Live:
					line += " (it runs: stop it, then repair)"
					left++
				case f.Err != nil:
					line += " (not repaired: " + f.Err.Error() + ")"
					left++
				default:
					left++
				}
				fmt.Println(line)
			}
			if left > 0 {
				return cliutil.ExitError{Code: 1}
			}
			return nil
		},
	}
}
