package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"usandbox/network/holder"
	"usandbox/network/netconf"
	"usandbox/sandbox"
	"usandbox/storage/index"
)

// NetworkCreateOptions describe a new network (network create).
type NetworkCreateOptions = netconf.CreateRequest

// NetworkSubnet is one subnet of a network, in podman's inspect shape.
type NetworkSubnet struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway,omitempty"`
}

// Network is a network in podman 4.3's network inspect (and ls --format
// json) shape; the field names are podman's, for --format templates.
type Network struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	Driver string `json:"driver"`
	// NetworkInterface is the bridge's name, in the network's own
	// network namespace.
	NetworkInterface string          `json:"network_interface"`
	Created          time.Time       `json:"created"`
	Subnets          []NetworkSubnet `json:"subnets"`
	IPv6Enabled      bool            `json:"ipv6_enabled"`
	Internal         bool            `json:"internal"`
	// DNSEnabled: every network has its resolver.
	DNSEnabled bool `json:"dns_enabled"`
	// NetworkDNSServers are --dns (podman 4.5's name for its own --dns).
	NetworkDNSServers []string          `json:"network_dns_servers,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Options           map[string]string `json:"options,omitempty"`
	IPAMOptions       map[string]string `json:"ipam_options"`
}

// BridgeInterface is the name of every network's bridge, each in its
// network's own network namespace.
const BridgeInterface = "br0"

func networkOf(n *netconf.Network) *Network {
	return &Network{
		Name: n.Name, ID: n.ID, Driver: n.Driver, NetworkInterface: BridgeInterface, Created: n.Created,
		Subnets:  []NetworkSubnet{{Subnet: n.Subnet, Gateway: n.Gateway}},
		Internal: n.Internal, DNSEnabled: true, NetworkDNSServers: n.DNS,
		Labels: n.Labels, Options: n.Options, IPAMOptions: map[string]string{"driver": "host-local"},
	}
}

// NetworksDir is the directory of the store's network configurations.
func NetworksDir(p index.Paths) string { return filepath.Join(p.Root, "networks") }

// Networks is the store's network configurations.
func (e *Engine) Networks() *netconf.Store { return netconf.Open(NetworksDir(e.paths)) }

// ErrNetworkInUse matches the refusal to remove a network a sandbox is on
// (errors.Is; it is also ErrConflict). Its text is podman's.
var ErrNetworkInUse = errors.New("network is being used")

// ErrDefaultNetwork matches the refusal to remove the default network
// (errors.Is; it is also ErrInvalid).
var ErrDefaultNetwork = netconf.ErrDefault

// NetworkCreate makes a network: ErrInvalid for a bad option or a subnet
// that overlaps another network's, ErrConflict if the name is taken.
func (e *Engine) NetworkCreate(ctx context.Context, o NetworkCreateOptions) (*Network, error) {
	n, err := e.Networks().Create(o)
	if err != nil {
		return nil, classifyNetwork(err)
	}
	return networkOf(n), nil
}

// NetworkInspect is the network ref (a name, ID or unique ID prefix);
// ErrNotFound if there is none. The default network is made on first use.
func (e *Engine) NetworkInspect(ctx context.Context, ref string) (*Network, error) {
	n, err := e.Networks().Get(ref)
	if err != nil {
		return nil, classifyNetwork(err)
	}
	return networkOf(n), nil
}

// NetworkExists reports whether the network ref exists.
func (e *Engine) NetworkExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.NetworkInspect(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// NetworkFilters select networks as podman's network ls --filter does: a
// network must match every key, and one of the values given for a key.
type NetworkFilters struct {
	keys filterSet[*Network]
}

// ParseNetworkFilters parses KEY=VALUE filters: name and id (regular
// expressions, as podman's), label (KEY or KEY=VALUE), driver, and
// dangling (true: no sandbox is on it; false: one is).
func ParseNetworkFilters(fs []string) (NetworkFilters, error) {
	f := NetworkFilters{keys: filterSet[*Network]{}}
	for _, s := range fs {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return f, as(ErrInvalid, fmt.Errorf("filter input must be in the form of filter=value: %s is invalid", s))
		}
		var m func(*Network, bool) bool
		switch key {
		case "name", "id":
			re, err := regexp.Compile(value)
			if err != nil {
				return f, as(ErrInvalid, fmt.Errorf("invalid %s filter %q: %w", key, value, err))
			}
			if key == "name" {
				m = func(n *Network, _ bool) bool { return re.MatchString(n.Name) }
			} else {
				m = func(n *Network, _ bool) bool { return re.MatchString(n.ID) }
			}
		case "label":
			m = labelFilter(value, func(x *Network) map[string]string { return x.Labels })
		case "driver":
			m = func(n *Network, _ bool) bool { return n.Driver == value }
		case "dangling":
			var err error
			if m, err = danglingFilter[*Network](value); err != nil {
				return f, err
			}
		default:
			return f, as(ErrInvalid, fmt.Errorf("invalid filter %q: usandbox knows name, id, label, driver and dangling", key))
		}
		f.keys.add(key, m)
	}
	return f, nil
}

func (f NetworkFilters) match(x *Network, used bool) bool { return f.keys.match(x, used) }

// NetworkList returns the networks that match f, by name (the default
// network included).
func (e *Engine) NetworkList(ctx context.Context, f NetworkFilters) ([]*Network, error) {
	all, err := e.Networks().List()
	if err != nil {
		return nil, classifyNetwork(err)
	}
	var users map[string][]*Sandbox
	if len(f.keys["dangling"]) > 0 {
		if users, err = e.networkUsers(); err != nil {
			return nil, err
		}
	}
	out := []*Network{}
	for _, n := range all {
		if r := networkOf(n); f.match(r, len(users[n.Name]) > 0) {
			out = append(out, r)
		}
	}
	return out, nil
}

// networkUsers are the sandboxes (in any state) on each network, by the
// network's name, as the sandboxes' records name them.
func (e *Engine) networkUsers() (map[string][]*Sandbox, error) {
	all, err := sandbox.List(e.paths)
	if err != nil {
		return nil, err
	}
	users := map[string][]*Sandbox{}
	for _, sb := range all {
		for _, a := range sb.Network.Networks {
			users[a.Name] = append(users[a.Name], sb)
		}
	}
	return users, nil
}

// inUseError is a network that sandboxes are on.
type inUseError struct {
	name  string
	users []*Sandbox
}

func (e *inUseError) Error() string {
	var names []string
	for _, sb := range e.users {
		names = append(names, sb.Name)
	}
	// podman's words, with its hint.
	return fmt.Sprintf("%q has associated sandboxes with it (%s). Use -f to forcibly delete the sandboxes with the network: %v",
		e.name, strings.Join(names, ", "), ErrNetworkInUse)
}

func (e *inUseError) Is(target error) bool { return target == ErrNetworkInUse || target == ErrConflict }

// NetworkRemove removes the network ref (a name, ID or unique ID
// prefix). A network that a sandbox is on (running or not) is refused
// with ErrNetworkInUse (an ErrConflict), as podman does, unless force,
// which removes those sandboxes first (stopping the running ones), as
// podman's network rm -f does. The default network is refused
// (ErrInvalid); an unknown one is ErrNotFound.
func (e *Engine) NetworkRemove(ctx context.Context, ref string, force bool) error {
	store := e.Networks()
	for {
		var users []*Sandbox
		// The check runs under the networks' lock, which a sandbox's
		// joining holds until its record names the network.
		_, err := store.Remove(ref, func(n *netconf.Network) error {
			all, err := e.networkUsers()
			if err != nil {
				return err
			}
			if users = all[n.Name]; len(users) > 0 {
				return &inUseError{ref, users}
			}
			return nil
		})
		var iu *inUseError
		if err == nil {
			// What a killed holder left goes with the last network it
			// might have run (a running holder's stays).
			return holder.Reap(e.netRunDir())
		}
		if !force || !errors.As(err, &iu) {
			return classifyNetwork(err)
		}
		// The sandboxes go under their own locks, with the networks'
		// lock let go (a sandbox's join takes it); then the check again.
		for _, sb := range users {
			if err := e.forceRemove(ctx, sb); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
}

// NetworkPrune removes every network that no sandbox is on (never the
// default network) and returns their names, sorted.
func (e *Engine) NetworkPrune(ctx context.Context) ([]string, error) {
	return e.NetworkPruneLabels(ctx, nil)
}

// NetworkPruneLabels is NetworkPrune of the networks that have every one
// of labels (KEY or KEY=VALUE), as docker's network prune --filter label.
func (e *Engine) NetworkPruneLabels(ctx context.Context, labels []string) ([]string, error) {
	match, err := allLabels(labels, func(n *netconf.Network) map[string]string { return n.Labels })
	if err != nil {
		return nil, err
	}
	store := e.Networks()
	all, err := store.List()
	if err != nil {
		return nil, classifyNetwork(err)
	}
	users, err := e.networkUsers()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range all {
		if n.Name == netconf.DefaultName || len(users[n.Name]) > 0 || !match(n) {
			continue
		}
		_, err := store.Remove(n.Name, func(n *netconf.Network) error {
			// Again under the lock: a sandbox may have joined since.
			now, err := e.networkUsers()
			if err != nil {
				return err
			}
			if len(now[n.Name]) > 0 {
				return &inUseError{n.Name, now[n.Name]}
			}
			return nil
		})
		switch {
		case err == nil:
			removed = append(removed, n.Name)
		case errors.Is(err, ErrNetworkInUse), errors.Is(err, netconf.ErrNotFound):
			// Joined or removed by someone else meanwhile.
		default:
			return removed, classifyNetwork(err)
		}
	}
	sort.Strings(removed)
	return removed, nil
}

// classifyNetwork gives netconf's errors their kinds.
func classifyNetwork(err error) error {
	switch {
	case err == nil || Kind(err) != nil:
		return err
	case errors.Is(err, netconf.ErrNotFound):
		return as(ErrNotFound, err)
	case errors.Is(err, netconf.ErrExists):
		return as(ErrConflict, err)
	case errors.Is(err, netconf.ErrInvalid), errors.Is(err, netconf.ErrDefault):
		return as(ErrInvalid, err)
	}
	return classify(err)
}
