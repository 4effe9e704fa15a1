package lifecycle

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"usandbox/network"
	"usandbox/storage/index"
)

// PullPolicy is run's and create's --pull: when the image is pulled.
type PullPolicy string

// Pull policies, podman's.
const (
	// PullMissing pulls the image only when the store lacks it (the
	// default).
	PullMissing PullPolicy = "missing"
	// PullAlways pulls it every time, failing if the pull fails.
	PullAlways PullPolicy = "always"
	// PullNever never pulls: a missing image is an error.
	PullNever PullPolicy = "never"
	// PullNewer pulls it when the registry's differs from the stored one;
	// a failed pull is forgiven when the store has the image.
	PullNewer PullPolicy = "newer"
)

// ParsePullPolicy parses --pull, in any case, as podman does.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch p := PullPolicy(strings.ToLower(s)); p {
	case PullMissing, PullAlways, PullNever, PullNewer:
		return p, nil
	case "":
		return PullMissing, nil
	}
	return "", as(ErrInvalid, fmt.Errorf("unsupported pull policy %q: use always, missing, never or newer", s))
}

// ParseAddHost checks an --add-host NAME:IP and returns it as NAME:IP
// (the IP as Go writes it). The IP may be an IPv6 address ("v6:::1"),
// as podman takes it.
func ParseAddHost(s string) (string, error) {
	name, ip, ok := strings.Cut(s, ":")
	if !ok || name == "" || strings.ContainsFunc(name, unicode.IsSpace) {
		return "", as(ErrInvalid, fmt.Errorf("bad format for add-host: %q: use NAME:IP", s))
	}
	addr := net.ParseIP(strings.Trim(ip, "[]"))
	if addr == nil {
		return "", as(ErrInvalid, fmt.Errorf("invalid IP address in add-host: %q", ip))
	}
	return name + ":" + addr.String(), nil
}

// ParseExpose parses an --expose PORT[-PORT][/tcp|/udp] into the ports
// it names, "80/tcp".
func ParseExpose(s string) ([]string, error) {
	spec, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" {
		return nil, as(ErrInvalid, fmt.Errorf("invalid --expose %q: unrecognized protocol %q (usandbox exposes tcp and udp)", s, proto))
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	port := func(v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return 0, as(ErrInvalid, fmt.Errorf("invalid --expose %q: %q is not a port (1-65535)", s, v))
		}
		return n, nil
	}
	first, err := port(lo)
	if err != nil {
		return nil, err
	}
	last := first
	if isRange {
		if last, err = port(hi); err != nil {
			return nil, err
		}
		if last < first {
			return nil, as(ErrInvalid, fmt.Errorf("invalid --expose %q: the range ends before it starts", s))
		}
	}
	var out []string
	for p := first; p <= last; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// ParseLabels turns --label-file files and --label KEY[=VALUE] values
// into labels (a later one wins, --label over the files, as podman
// does). A file has one label a line; blank lines and # comments are
// skipped.
func ParseLabels(labels, files []string) (map[string]string, error) {
	var all []string
	for _, f := range files {
		lines, err := readLabelFile(f)
		if err != nil {
			return nil, as(ErrInvalid, fmt.Errorf("unable to process labels: %w", err))
		}
		all = append(all, lines...)
	}
	all = append(all, labels...)
	if len(all) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, l := range all {
		k, v, _ := strings.Cut(l, "=")
		if k == "" || strings.ContainsFunc(k, unicode.IsSpace) {
			return nil, as(ErrInvalid, fmt.Errorf("unable to process labels: invalid label format: %q: use KEY=VALUE", l))
		}
		out[k] = v
	}
	return out, nil
}

func readLabelFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimLeft(sc.Text(), " \t")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// MergeLabels is the image's labels with the user's over them.
func MergeLabels(image, user map[string]string) map[string]string {
	if len(image) == 0 && len(user) == 0 {
		return nil
	}
	out := make(map[string]string, len(image)+len(user))
	for k, v := range image {
		out[k] = v
	}
	for k, v := range user {
		out[k] = v
	}
	return out
}

// Attach is which streams of a foreground sandbox are connected (-a).
type Attach struct{ Stdin, Stdout, Stderr bool }

// ParseAttach parses -a/--attach values; none given is every stream.
func ParseAttach(vals []string) (Attach, error) {
	if len(vals) == 0 {
		return Attach{true, true, true}, nil
	}
	var a Attach
	for _, v := range vals {
		switch strings.ToLower(v) {
		case "stdin":
			a.Stdin = true
		case "stdout":
			a.Stdout = true
		case "stderr":
			a.Stderr = true
		default:
			return a, as(ErrInvalid, fmt.Errorf("invalid stream %q for --attach: must be one of stdin, stdout, or stderr", v))
		}
	}
	return a, nil
}

// sortedPorts returns the exposed ports of ps without duplicates, in
// order.
func sortedPorts(ps []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// applyImageExtra merges the image's labels, stop signal and exposed
// ports into o, and adds the -P ports; the options that need each other
// are checked here.
func applyImageExtra(o *CreateOptions, im *index.Image) error {
	if (len(o.DNSSearch) > 0 || len(o.DNSOptions) > 0) && o.Network.Mode == network.None {
		return as(ErrInvalid, fmt.Errorf("conflicting options: dns and the network mode: none"))
	}
	o.Labels = MergeLabels(im.Config.Labels, o.Labels)
	if o.StopSignal == "" && im.Config.StopSignal != "" {
		sig, err := ParseSignal(im.Config.StopSignal)
		if err != nil {
			return fmt.Errorf("the image's StopSignal: %w", err)
		}
		o.StopSignal = SignalName(sig)
	}
	exposed := append([]string(nil), o.ExposedPorts...)
	for p := range im.Config.ExposedPorts {
		exposed = append(exposed, p)
	}
	o.ExposedPorts = sortedPorts(exposed)
	if !o.PublishAll || !o.Network.UserMode() {
		// podman too publishes nothing without a user-mode network, and
		// says nothing about -P.
		return nil
	}
	published := map[string]bool{}
	for _, p := range o.Ports {
		published[fmt.Sprintf("%d/%s", p.Container, p.Proto)] = true
	}
	for _, ep := range o.ExposedPorts {
		if published[ep] {
			continue
		}
		num, proto, _ := strings.Cut(ep, "/")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp") {
			return as(ErrInvalid, fmt.Errorf("cannot publish exposed port %q: usandbox publishes tcp and udp ports", ep))
		}
		o.Ports = append(o.Ports, Port{Proto: proto, Container: n})
	}
	return nil
}

// SignalName is "SIGUSR1" for SIGUSR1 (the number for a real-time
// signal), as the record keeps a stop signal.
func SignalName(sig Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return strconv.Itoa(int(sig))
}

// StopTimeoutGrace, as the grace period of Stop, Restart or Remove,
// means the sandbox's own: its --stop-timeout, else the command's
// default (stop and restart 10 s, rm -f none).
const StopTimeoutGrace time.Duration = -1

func stopGrace(sb *Sandbox, grace, dflt time.Duration) time.Duration {
	if grace >= 0 {
		return grace
	}
	if sb.StopTimeout != nil {
		return time.Duration(*sb.StopTimeout) * time.Second
	}
	return dflt
}

// stopSignal is the signal stop sends first.
func stopSignal(sb *Sandbox) Signal {
	if sb.StopSignal != "" {
		if sig, err := ParseSignal(sb.StopSignal); err == nil {
			return sig
		}
	}
	return SIGTERM
}

// LabelMatcher is podman's label filter: KEY matches the sandboxes with
// that label whatever its value, KEY=VALUE those with that value ("KEY="
// is KEY, as podman 4.3 takes it).
func LabelMatcher(value string) func(*Sandbox) bool {
	return func(sb *Sandbox) bool { return index.MatchLabel(sb.Labels, value) }
}
