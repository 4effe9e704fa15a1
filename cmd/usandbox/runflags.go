package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/lifecycle"
	"usandbox/sandbox"
)

// moreRunFlags are run's and create's flags beyond the first set:
// labels, the pull policy, --replace, --cidfile, how the sandbox stops,
// -P/--expose, the lines of /etc/hosts and /etc/resolv.conf, --env-host,
// --timeout.
func moreRunFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label KEY=VALUE (or KEY, empty)"},
		&cli.StringSliceFlag{Name: "label-file", Usage: "read labels from a file, KEY=VALUE a line"},
		&cli.StringFlag{Name: "pull", Value: "missing", Usage: "pull the image always, missing (when the store lacks it), never, or newer (when the registry's differs)"},
		&cli.BoolFlag{Name: "replace", Usage: "stop and remove the sandbox of that --name first"},
		&cli.StringFlag{Name: "cidfile", Usage: "write the sandbox's ID to this file (which must not exist)"},
		&cli.StringFlag{Name: "stop-signal", Usage: "the signal that stop sends first (default SIGTERM, or the image's StopSignal)"},
		&cli.IntFlag{Name: "stop-timeout", HideDefault: true, Usage: "seconds that stop, restart and rm -f give the stop signal before SIGKILL when not given -t (default: stop and restart 10, rm -f none)"},
		&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish the image's exposed ports and --expose's on free host ports"},
		&cli.StringSliceFlag{Name: "expose", Usage: "expose PORT[-PORT][/tcp|/udp] (published with -P)"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add NAME:IP to /etc/hosts"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "a search domain of /etc/resolv.conf (. for none)"},
		&cli.StringSliceFlag{Name: "dns-option", Usage: "an options entry of /etc/resolv.conf (ndots:2)"},
		&cli.BoolFlag{Name: "env-host", Usage: "pass usandbox's whole environment to the command"},
		&cli.IntFlag{Name: "timeout", Usage: "kill the sandbox after it has run this many seconds (0: never); it exits 255"},
	}
}

// runOnlyFlags are run's flags that create has no use for.
func runOnlyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "pass the signals usandbox receives on to the command (false: they are dropped)"},
		&cli.StringSliceFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach only these streams: stdin, stdout, stderr (repeatable)"},
	}
}

// applyMoreFlags puts moreRunFlags into o; it runs before -e and
// --env-file are added, so that they win over --env-host.
func applyMoreFlags(cmd *cli.Command, o *lifecycle.CreateOptions) error {
	var err error
	if o.Labels, err = lifecycle.ParseLabels(cmd.StringSlice("label"), cmd.StringSlice("label-file")); err != nil {
		return err
	}
	if _, err := lifecycle.ParsePullPolicy(cmd.String("pull")); err != nil {
		return err
	}
	if cmd.Bool("replace") && o.Name == "" {
		return cliutil.UsageError(cmd, "cannot replace a sandbox without --name")
	}
	if cmd.IsSet("cidfile") && cmd.String("cidfile") == "" {
		return cliutil.UsageError(cmd, "--cidfile needs a file name")
	}
	if s := cmd.String("stop-signal"); s != "" {
		sig, err := lifecycle.ParseSignal(s)
		if err != nil {
			return cliutil.UsageError(cmd, "invalid --stop-signal %q: give a signal name or number (SIGUSR1, 10)", s)
		}
		o.StopSignal = lifecycle.SignalName(sig)
	}
	if cmd.IsSet("stop-timeout") {
		n := int(cmd.Int("stop-timeout"))
		if n < 0 {
			return cliutil.UsageError(cmd, "invalid --stop-timeout %d: give seconds, 0 or more", n)
		}
		o.StopTimeout = &n
	}
	if n := cmd.Int("timeout"); n < 0 || n > 1<<31-1 {
		return cliutil.UsageError(cmd, "invalid --timeout %d: give seconds, 0 for none", n)
	} else {
		o.Timeout = int(n)
	}
	for _, e := range cmd.StringSlice("expose") {
		ports, err := lifecycle.ParseExpose(e)
		if err != nil {
			return err
		}
		o.ExposedPorts = append(o.ExposedPorts, ports...)
	}
	o.PublishAll = cmd.Bool("publish-all")
	for _, h := range cmd.StringSlice("add-host") {
		entry, err := lifecycle.ParseAddHost(h)
		if err != nil {
			return err
		}
		o.ExtraHosts = append(o.ExtraHosts, entry)
	}
	for _, d := range cmd.StringSlice("dns-search") {
		if d == "" || strings.ContainsAny(d, " \t\n") {
			return cliutil.UsageError(cmd, "invalid --dns-search %q: give a domain, or . for none", d)
		}
		o.DNSSearch = append(o.DNSSearch, d)
	}
	for _, d := range cmd.StringSlice("dns-option") {
		if d == "" || strings.ContainsAny(d, " \t\n") {
			return cliutil.UsageError(cmd, "invalid --dns-option %q: give one option, as ndots:2", d)
		}
		o.DNSOptions = append(o.DNSOptions, d)
	}
	if cmd.Bool("env-host") {
		// The sandbox's own HOSTNAME stays, as podman's does.
		var host []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "HOSTNAME=") {
				host = append(host, kv)
			}
		}
		env, err := sandbox.ParseEnv(host, os.LookupEnv)
		if err != nil {
			return fmt.Errorf("--env-host: %w", err)
		}
		o.Env = append(o.Env, env...)
	}
	return nil
}

// createWithPolicy creates the sandbox o after --replace, pulling its
// image as --pull says, and writes --cidfile.
func createWithPolicy(ctx context.Context, cmd *cli.Command, e *lifecycle.Engine, o lifecycle.CreateOptions) (*sandbox.Sandbox, error) {
	policy, err := lifecycle.ParsePullPolicy(cmd.String("pull"))
	if err != nil {
		return nil, err
	}
	ref := o.ImageRef
	switch policy {
	case lifecycle.PullAlways:
		if err := pull(e, ref, false, nil); err != nil {
			return nil, err
		}
	case lifecycle.PullNewer:
		var out bytes.Buffer
		err := pull(e, ref, false, &out)
		known := err == nil
		if err != nil {
			known, _ = e.ImageKnown(ref)
		}
		if !known || err == nil {
			// podman's: a failed pull is forgiven (and not shown) when
			// the store has the image.
			os.Stderr.Write(out.Bytes())
		}
		if !known {
			return nil, err
		}
	}
	var cid *os.File
	if name := cmd.String("cidfile"); name != "" {
		// Made first, as podman does, so that an existing one stops
		// everything before a sandbox exists.
		if cid, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container id file exists. Ensure another container is not using it or delete %s", name)
		} else if err != nil {
			return nil, fmt.Errorf("--cidfile: %w", err)
		}
	}
	sb, err := createReplacing(ctx, cmd, e, o, policy)
	if err == nil {
		cliutil.Debugf("created sandbox %s (%s) from %s in %s", sb.ID, sb.Name, sb.Image, sb.Dir)
	}
	if cid != nil {
		if err == nil {
			_, err = cid.WriteString(sb.ID)
			if cerr := cid.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				err = fmt.Errorf("writing --cidfile: %w", err)
				if rerr := e.Remove(ctx, sb.ID, lifecycle.RemoveOptions{Force: true}); rerr != nil {
					err = errors.Join(err, rerr)
				}
			}
		} else {
			cid.Close()
		}
		if err != nil {
			os.Remove(cid.Name())
		}
	}
	return sb, err
}

// createReplacing removes the sandbox of o's name first with --replace
// (printing its name, as podman does), then creates o, pulling the image
// if it is missing and the policy is missing.
func createReplacing(ctx context.Context, cmd *cli.Command, e *lifecycle.Engine, o lifecycle.CreateOptions, policy lifecycle.PullPolicy) (*sandbox.Sandbox, error) {
	if cmd.Bool("replace") {
		// The image first: a missing image replaces nothing.
		known, err := e.ImageKnown(o.ImageRef)
		if err != nil {
			return nil, err
		}
		if !known && policy == lifecycle.PullMissing {
			if err := pull(e, o.ImageRef, true, nil); err != nil {
				return nil, err
			}
		} else if !known {
			return nil, imageNotKnown(o.ImageRef, policy)
		}
		if err := replace(ctx, e, o.Name); err != nil {
			return nil, err
		}
	}
	// Create looks the image up: it is read once when the store has it.
	sb, err := e.Create(ctx, o, cliutil.Warn)
	if errors.Is(err, lifecycle.ErrImageUnknown) && policy == lifecycle.PullMissing {
		id, perr := pullID(e, o.ImageRef)
		if perr != nil {
			return nil, perr
		}
		if sb, err = e.Create(ctx, o, cliutil.Warn); errors.Is(err, lifecycle.ErrImageUnknown) && id != "" {
			// A transport's reference (oci:DIR, docker-archive:FILE)
			// is no name in the store: what was pulled is run, by ID,
			// as podman does.
			o.ImageRef = id
			sb, err = e.Create(ctx, o, cliutil.Warn)
		}
		if errors.Is(err, lifecycle.ErrImageUnknown) {
			err = fmt.Errorf("pulled %s but cannot find it", o.ImageRef)
		}
	} else if errors.Is(err, lifecycle.ErrImageUnknown) {
		err = imageNotKnown(o.ImageRef, policy)
	}
	return sb, err
}

func imageNotKnown(ref string, policy lifecycle.PullPolicy) error {
	if policy == lifecycle.PullNever {
		return fmt.Errorf("%s: image not known (--pull never: pull it first)", ref)
	}
	return fmt.Errorf("%s: image not known", ref)
}

// replace stops (as stop does) and removes the sandbox called name, if
// there is one, and prints its name.
func replace(ctx context.Context, e *lifecycle.Engine, name string) error {
	old, err := e.Lookup(ctx, name)
	if errors.Is(err, lifecycle.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if old.Name != name {
		return nil // an ID prefix, not the name
	}
	if err := e.Stop(ctx, old.ID, lifecycle.StopTimeoutGrace); err != nil && !errors.Is(err, lifecycle.ErrNotRunning) {
		return err
	}
	if err := e.Remove(ctx, old.ID, lifecycle.RemoveOptions{Force: true}); err != nil && !errors.Is(err, lifecycle.ErrNotFound) {
		return err
	}
	fmt.Println(old.Name)
	return nil
}

// pull pulls the image ref through usandbox-image; missing: say first
// that the store lacks it, as docker run does. Its errors go to errs
// (stderr if nil).
func pull(e *lifecycle.Engine, ref string, missing bool, errs *bytes.Buffer) error {
	if missing {
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", ref)
	}
	_, err := runPull(e, ref, errs)
	return err
}

// pullID pulls a missing image and returns its ID (the last line the
// pull printed; "" if it printed none).
func pullID(e *lifecycle.Engine, ref string) (string, error) {
	fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", ref)
	out, err := runPull(e, ref, nil)
	if err != nil {
		return "", err
	}
	lines := strings.Fields(out)
	if len(lines) == 0 {
		return "", nil
	}
	return lines[len(lines)-1], nil
}

// runPull runs usandbox-image pull; its stderr goes to errs (nil: ours),
// its stdout (the image's ID) comes back.
func runPull(e *lifecycle.Engine, ref string, errs *bytes.Buffer) (string, error) {
	tool, err := cliutil.ImageTool()
	if err != nil {
		return "", err
	}
	p := e.Paths()
	pull := exec.Command(tool, "--root", p.Root, "--runroot", p.RunRoot, "pull", ref)
	cliutil.Debugf("pulling %s: %s", ref, strings.Join(pull.Args, " "))
	pull.Args[0] = "usandbox"
	var out bytes.Buffer
	pull.Stdout, pull.Stderr = &out, os.Stderr
	if errs != nil {
		pull.Stderr = errs
	}
	if err := pull.Run(); err != nil {
		// usandbox-image printed why.
		return "", cliutil.ExitError{Code: cliutil.ExitFailed}
	}
	return out.String(), nil
}

// attachStreams are a foreground run's streams as -a, -i and --sig-proxy
// say: an output stream not attached goes to /dev/null. Stdin is
// attached with -i whatever -a says, and never without, as podman 4.3
// does.
func attachStreams(ctx context.Context, cmd *cli.Command) (lifecycle.Streams, func(), error) {
	a, err := lifecycle.ParseAttach(cmd.StringSlice("attach"))
	if err != nil {
		return lifecycle.Streams{}, nil, err
	}
	s := lifecycle.Streams{
		Stdin: os.Stdin, Stdout: cliutil.CommandStdout(ctx), Stderr: os.Stderr,
		Interactive: cmd.Bool("interactive"),
		NoSigProxy:  !cmd.Bool("sig-proxy"),
	}
	done := func() {}
	if !a.Stdout || !a.Stderr {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return s, nil, err
		}
		done = func() { null.Close() }
		if !a.Stdout {
			s.Stdout = null
		}
		if !a.Stderr {
			s.Stderr = null
		}
	}
	return s, done, nil
}

// graceFlag is stop's, restart's and rm's -t: when not given, the
// sandbox's own --stop-timeout (lifecycle.StopTimeoutGrace).
func graceFlag(cmd *cli.Command) time.Duration {
	if !cmd.IsSet("time") {
		return lifecycle.StopTimeoutGrace
	}
	return time.Duration(cmd.Int("time")) * time.Second
}
