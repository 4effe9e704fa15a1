package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"usandbox/internal/trace"

	"github.com/docker/go-units"
	mobysignal "github.com/moby/sys/signal"

	"usandbox/cgroupv2"
	"usandbox/internal/sigproxy"
	"usandbox/network"
	"usandbox/sandbox"
	"usandbox/storage/index"
	"usandbox/userns"
)

// CreateOptions describe a new sandbox (see sandbox.Options). Create
// fills in Paths, Index, Image, Rootless and SingleID itself.
type CreateOptions = sandbox.Options

// Limits are a sandbox's resource limits.
type Limits = cgroupv2.Limits

// Create makes a new sandbox from the image o.ImageRef, which must be in
// the store (ErrNotFound otherwise: pulling is the front end's choice).
// The sandbox is created, not started: Run or StartCreated starts it.
// warn receives what the caller should print (a degraded user
// namespace, -p discarded with --network host or none).
func (e *Engine) Create(ctx context.Context, o CreateOptions, warn func(string)) (*Sandbox, error) {
	ix, err := index.Read(e.paths)
	if err != nil {
		return nil, err
	}
	im, err := ix.Lookup(o.ImageRef)
	if err != nil {
		return nil, classify(err)
	}
	trace.Mark("create", "image found")
	plan, err := e.plan()
	if err != nil {
		return nil, classify(err)
	}
	trace.Mark("create", "ID maps planned")
	if plan.Warning != "" && warn != nil {
		warn(plan.Warning)
	}
	if o.Network.Mode == network.Bridge {
		// Until the record names its networks: rm and prune of a
		// network check "in use" under this lock.
		unlock, err := e.Networks().Lock()
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	if err := e.resolveNetworks(&o); err != nil {
		return nil, err
	}
	if len(o.Ports) > 0 && !o.Network.UserMode() && o.Network.Mode != network.Bridge {
		// podman's choice: the ports go, the sandbox runs, the user is told.
		if warn != nil {
			warn("Port mappings have been discarded as one of the Host, Container, Pod, and None network modes are in use")
		}
		o.Ports = nil
	}
	if err := applyImageExtra(&o, im); err != nil {
		return nil, err
	}
	o.Paths, o.Index, o.Image = e.paths, ix, im
	o.Rootless, o.SingleID = plan.Mode != userns.Root, plan.Mode == userns.Single
	o.Plan = plan
	sb, err := sandbox.Create(o)
	if err != nil {
		return nil, classify(err)
	}
	trace.Mark("create", "sandbox made")
	sandbox.Event(e.paths, sb, "create", nil)
	trace.Mark("create", "event logged")
	return sb, nil
}

// ImageKnown reports whether the store has the image ref (docker run
// pulls it when not).
func (e *Engine) ImageKnown(ref string) (bool, error) {
	ix, err := index.Read(e.paths)
	if err != nil {
		return false, err
	}
	_, err = ix.Lookup(ref)
	if errors.Is(err, index.ErrImageUnknown) {
		return false, nil
	}
	return err == nil, err
}

// Image is the store's image ref (usandbox inspect IMAGE).
func (e *Engine) Image(ref string) (*index.Image, error) {
	ix, err := index.Read(e.paths)
	if err != nil {
		return nil, err
	}
	im, err := ix.Lookup(ref)
	return im, classify(err)
}

// ImageID is the ID of the store's image ref.
func (e *Engine) ImageID(ref string) (string, error) {
	im, err := e.Image(ref)
	if err != nil {
		return "", err
	}
	return im.ID, nil
}

// NetworkOptions are a parsed --network.
type NetworkOptions = network.Options

// Port is a published port.
type Port = network.Port

// DefaultNetwork is the network a sandbox gets when none is asked for:
// slirp4netns when it is installed, else none; none as real root, where
// there is no user namespace for the drivers to join.
func DefaultNetwork() string {
	if _, err := exec.LookPath(network.Slirp4netns); err == nil && os.Geteuid() != 0 {
		return network.Slirp4netns
	}
	return network.None
}

// ParseNetwork parses a --network value.
func ParseNetwork(s string) (NetworkOptions, error) { return network.ParseNetwork(s) }

// ParseNetworks parses a sandbox's --network values and its
// --network-alias values.
func ParseNetworks(values, aliases []string) (NetworkOptions, error) {
	o, err := network.ParseNetworks(values, aliases)
	if err != nil {
		return o, as(ErrInvalid, err)
	}
	return o, nil
}

// ParsePort parses a -p value.
func ParsePort(s string) (Port, error) { return network.ParsePort(s) }

// ParseDNS parses a --dns value: an IP address.
func ParseDNS(s string) (net.IP, error) {
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, as(ErrInvalid, fmt.Errorf("invalid --dns %q: want an IP address", s))
	}
	return ip, nil
}

// LimitFlags are the resource limits as docker's flags spell them; the
// zero value of a field means "not given".
type LimitFlags struct {
	Memory, MemorySwap, CPUs, CpusetCpus string
	CPUShares, CPUWeight, PidsLimit      *int64
}

// ParseLimits turns docker's resource flags into limits.
func ParseLimits(f LimitFlags) (Limits, error) {
	l, err := parseLimits(f)
	return l, as(ErrInvalid, err)
}

func parseLimits(f LimitFlags) (Limits, error) {
	var l Limits
	var err error
	if v := f.Memory; v != "" {
		if l.Memory, err = cgroupv2.ParseBytes(v); err != nil {
			return l, fmt.Errorf("--memory: %w", err)
		}
	}
	if v := f.MemorySwap; v != "" {
		if v == "-1" {
			l.MemorySwap = -1
		} else if l.MemorySwap, err = cgroupv2.ParseBytes(v); err != nil {
			return l, fmt.Errorf("--memory-swap: %w", err)
		}
		if l.Memory == 0 {
			return l, fmt.Errorf("--memory-swap needs --memory")
		}
		if l.MemorySwap > 0 && l.MemorySwap < l.Memory {
			return l, fmt.Errorf("--memory-swap must be at least --memory (it counts memory plus swap)")
		}
	}
	if v := f.CPUs; v != "" {
		if l.CPUQuota, l.CPUPeriod, err = cgroupv2.ParseCPUs(v); err != nil {
			return l, err
		}
	}
	if f.CPUShares != nil {
		n := *f.CPUShares
		if n < 2 || n > 262144 {
			return l, fmt.Errorf("--cpu-shares must be 2..262144")
		}
		l.CPUWeight = cgroupv2.SharesToWeight(n)
	}
	if f.CPUWeight != nil {
		n := *f.CPUWeight
		if n < 1 || n > 10000 {
			return l, fmt.Errorf("--cpu-weight must be 1..10000")
		}
		l.CPUWeight = n
	}
	if v := f.CpusetCpus; v != "" {
		if err := cgroupv2.ValidCpuset(v); err != nil {
			return l, err
		}
		l.CpusetCpus = v
	}
	if f.PidsLimit != nil {
		n := *f.PidsLimit
		if n < 1 {
			return l, fmt.Errorf("--pids-limit must be at least 1")
		}
		l.PidsLimit = n
	}
	return l, nil
}

// scopeEnv marks a usandbox run again inside a systemd scope.
const scopeEnv = "_USANDBOX_IN_SCOPE"

// NeedScope reports whether a sandbox with limits l must run inside a
// delegated systemd scope that this process is not in yet: with a
// systemd user manager, limits get one the way podman's do.
func NeedScope(l Limits) bool {
	if !l.Any() || os.Getenv(scopeEnv) != "" {
		return false
	}
	info, err := cgroupv2.Detect()
	return err == nil && info.NeedScope()
}

// RunInScope runs this command line again inside a new systemd scope,
// forwarding signals to it, and returns its exit status. stdout is the
// copy's (the caller's real one under --noout, which the copy applies
// itself).
func RunInScope(args []string, stdout *os.File) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	argv := cgroupv2.ScopeArgs(append([]string{self}, args[1:]...))
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(os.Environ(), scopeEnv+"=1")
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, stdout, os.Stderr
	sigs := sigproxy.Listen()
	defer sigs.Stop()
	if err := c.Start(); err != nil {
		return 0, fmt.Errorf("starting a systemd scope for the limits: %w", err)
	}
	sigs.Forward(c.Process.Signal)
	err = c.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}

// ParseSignal takes "KILL", "SIGKILL", "9", "RTMIN+1" (docker's forms).
func ParseSignal(s string) (Signal, error) {
	sig, err := mobysignal.ParseSignal(s)
	if err != nil {
		return 0, as(ErrInvalid, fmt.Errorf("unknown signal %q", s))
	}
	return sig, nil
}

// ParseLog parses --log-driver and --log-opt as podman takes them: the
// driver k8s-file (the default) or none, and max-size=SIZE for k8s-file.
// passthrough (the caller's own stdout and stderr handed to the sandbox)
// is refused: a sandbox never holds the caller's files.
func ParseLog(driver string, opts []string) (string, int64, error) {
	d, max, err := parseLog(driver, opts)
	return d, max, as(ErrInvalid, err)
}

func parseLog(driver string, opts []string) (string, int64, error) {
	switch driver {
	case "", sandbox.LogK8sFile:
		driver = sandbox.LogK8sFile
	case sandbox.LogNone:
	case "passthrough":
		return "", 0, errors.New("--log-driver passthrough is not supported: usandbox never hands a sandbox the caller's own files; use k8s-file (read with usandbox logs) or none")
	default:
		return "", 0, fmt.Errorf("invalid --log-driver %q: use k8s-file or none", driver)
	}
	var max int64
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "max-size":
			if driver == sandbox.LogNone {
				return "", 0, fmt.Errorf("--log-opt %s: the none log driver keeps no log", o)
			}
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return "", 0, fmt.Errorf("invalid --log-opt %q: max-size takes a size such as 10m", o)
			}
			max = n
		default:
			return "", 0, fmt.Errorf("unsupported --log-opt %q: usandbox knows max-size=SIZE", o)
		}
	}
	return driver, max, nil
}

// IDRequest is a sandbox's --userns, --uidmap and --gidmap.
type IDRequest = userns.Request

// ParseUserNS parses --userns (host, keep-id[:uid=N,gid=N]).
func ParseUserNS(s string) (IDRequest, error) {
	r, err := userns.ParseUserNS(s)
	return r, as(ErrInvalid, err)
}

// ParseIDMap parses the values of --uidmap or --gidmap (flag).
func ParseIDMap(flag string, values []string) ([]userns.IDMap, error) {
	m, err := userns.ParseIDMapFlag(flag, values)
	return m, as(ErrInvalid, err)
}
