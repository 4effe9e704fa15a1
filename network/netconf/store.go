package netconf

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Errors callers branch on (errors.Is).
var (
	// ErrNotFound: no network has that name or ID (podman's words).
	ErrNotFound = errors.New("network not found")
	// ErrExists: the name is taken.
	ErrExists = errors.New("network already exists")
	// ErrInvalid: a bad option, name or ambiguous ID prefix.
	ErrInvalid = errors.New("invalid argument")
	// ErrDefault: the default network cannot be removed.
	ErrDefault = errors.New("default network cannot be removed")
)

// defaultError is podman's refusal to remove the default network, with
// usandbox's name for it.
type defaultError struct{}

func (defaultError) Error() string        { return "default network " + DefaultName + " cannot be removed" }
func (defaultError) Is(target error) bool { return target == ErrDefault }

// The default network: what --network bridge joins, made on first use
// with podman's default subnet.
const (
	DefaultName    = "bridge" // network.DefaultNetwork (not imported: network imports nothing of ours)
	DefaultSubnet  = "10.88.0.0/16"
	DefaultGateway = "10.88.0.1"
	// DefaultMTU is the MTU of a network without -o mtu=N.
	DefaultMTU = 65520
	// Driver is the one driver there is.
	Driver = "bridge"
)

// lockFile is the store's lock, in its directory; a network's file is
// NAME.json, written whole under a temporary name starting with tmpPrefix.
const (
	lockFile  = "lock"
	suffix    = ".json"
	tmpPrefix = ".tmp-"
)

// Store is the set of networks of one usandbox store: a directory (the
// caller's choice, filepath.Join(paths.Root, "networks")) with one
// NAME.json per network and the lock file. It holds no state beyond its
// directory; several processes may use one directory at once.
type Store struct {
	dir string
}

// Open is the store over dir (made on first write).
func Open(dir string) *Store { return &Store{dir: dir} }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Lock takes the store's lock (an flock on dir/lock), which serializes
// the changes of the network set: Create and Remove take it themselves;
// a caller holds it to keep the set still across several steps (a
// sandbox joining a network, so that the network is not removed under
// it). Not reentrant: Create and Remove must not be called while the
// same process holds it. Get and List do not take it.
func (s *Store) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("locking the networks: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, lockFile), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the networks: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the networks: %w", err)
	}
	return func() { f.Close() }, nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+suffix) }

// CreateRequest describes a new network (network create's flags). The
// zero value of each field is podman's default.
type CreateRequest struct {
	// Name: "" picks the first free usandboxN (N from 1), as podman
	// picks podmanN.
	Name string
	// Driver: "" or "bridge".
	Driver string
	// Subnet: an IPv4 CIDR; "": the first free /24 of 10.89.0.0/16 and
	// on (10.89.0.0/24, 10.89.1.0/24, …).
	Subnet string
	// Gateway: an address of Subnet; "": its first. Needs Subnet.
	Gateway  string
	Internal bool
	Labels   map[string]string
	// Options are -o KEY=VALUE: mtu only.
	Options map[string]string
	// DNS are the resolver's upstreams, IP or IP:PORT.
	DNS []string
}

// Create makes a network and returns it. Bad options are ErrInvalid, a
// name in use ErrExists; a subnet that overlaps another network's (or the
// user-mode stack's 10.0.2.0/24) is ErrInvalid. Nothing is written unless
// the network is made.
func (s *Store) Create(req CreateRequest) (*Network, error) {
	n, subnet, err := check(req)
	if err != nil {
		return nil, err
	}
	unlock, err := s.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	if n.Name == "" {
		n.Name = freeName(all)
	}
	for _, o := range all {
		if o.Name == n.Name {
			return nil, fmt.Errorf("network name %s already used: %w", n.Name, ErrExists)
		}
	}
	taken := make([]ipv4Net, 0, len(all))
	for _, o := range all {
		if on, err := parseSubnet(o.Subnet); err == nil {
			taken = append(taken, on)
		}
	}
	if subnet.bits == 0 {
		if subnet, err = allocate(taken); err != nil {
			return nil, err
		}
		n.Subnet = subnet.String()
		n.Gateway = subnet.nth(1).String()
	} else {
		for i, o := range taken {
			if subnet.overlaps(o) {
				return nil, fmt.Errorf("subnet %s overlaps network %s's %s: choose another --subnet: %w", subnet, all[i].Name, o, ErrInvalid)
			}
		}
	}
	for {
		if n.ID, err = randomID(); err != nil {
			return nil, err
		}
		if !idTaken(all, n.ID) {
			break
		}
	}
	n.Created = time.Now()
	if err := s.write(n); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Only a file made without the lock (a hand-made one) gets here.
			return nil, fmt.Errorf("network name %s already used: %w", n.Name, ErrExists)
		}
		return nil, err
	}
	return n, nil
}

// check validates req and returns the network it describes, without
// name (if none given), ID and Created, and its subnet (zero if to be
// allocated).
func check(req CreateRequest) (*Network, ipv4Net, error) {
	var zero ipv4Net
	if req.Name != "" {
		if err := CheckName(req.Name); err != nil {
			return nil, zero, err
		}
	}
	if req.Driver != "" && req.Driver != Driver {
		return nil, zero, fmt.Errorf("unsupported driver %s: usandbox's networks are bridge networks: %w", req.Driver, ErrInvalid)
	}
	n := &Network{Name: req.Name, Driver: Driver, Internal: req.Internal, MTU: DefaultMTU}
	var subnet ipv4Net
	if req.Subnet != "" {
		var err error
		if subnet, err = checkSubnet(req.Subnet); err != nil {
			return nil, zero, err
		}
		gw := subnet.nth(1)
		if req.Gateway != "" {
			if gw, err = parseGateway(req.Gateway, subnet); err != nil {
				return nil, zero, err
			}
		}
		n.Subnet, n.Gateway = subnet.String(), gw.String()
	} else if req.Gateway != "" {
		return nil, zero, fmt.Errorf("--gateway %s needs --subnet: %w", req.Gateway, ErrInvalid)
	}
	for k, v := range req.Options {
		switch k {
		case "mtu":
			mtu, err := ParseMTU(v)
			if err != nil {
				return nil, zero, err
			}
			n.MTU = mtu
		default:
			return nil, zero, fmt.Errorf("unsupported network option %s: usandbox knows mtu: %w", k, ErrInvalid)
		}
	}
	if len(req.Options) > 0 {
		n.Options = copyMap(req.Options)
	}
	for k := range req.Labels {
		if k == "" {
			return nil, zero, fmt.Errorf("invalid label: a label needs a key (KEY=VALUE): %w", ErrInvalid)
		}
	}
	if len(req.Labels) > 0 {
		n.Labels = copyMap(req.Labels)
	}
	for _, d := range req.DNS {
		v, err := ParseDNS(d)
		if err != nil {
			return nil, zero, err
		}
		n.DNS = append(n.DNS, v)
	}
	return n, subnet, nil
}

func copyMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// freeName is podman's way of naming an unnamed network: the first of
// usandbox1, usandbox2, … that no network has.
func freeName(all []*Network) string {
	names := map[string]bool{}
	for _, n := range all {
		names[n.Name] = true
	}
	for i := 1; ; i++ {
		if name := fmt.Sprintf("usandbox%d", i); !names[name] {
			return name
		}
	}
}

func idTaken(all []*Network, id string) bool {
	for _, n := range all {
		if n.ID == id {
			return true
		}
	}
	return false
}

func randomID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a network ID: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// defaultID is the default network's ID: the same in every store and in
// every process that makes its file, so that two processes making it at
// once agree (podman's own default network has a fixed ID too).
func defaultID() string {
	sum := sha256.Sum256([]byte("usandbox network " + DefaultName))
	return hex.EncodeToString(sum[:])
}

// write stores n as a new file: written whole under a temporary name,
// then linked to NAME.json, which fails (os.ErrExist) if the name is
// there already. A rename (atomicwriter's) would replace it.
func (s *Store) write(n *Network) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating network %s: %w", n.Name, err)
	}
	f, err := os.CreateTemp(s.dir, tmpPrefix)
	if err != nil {
		return fmt.Errorf("creating network %s: %w", n.Name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, s.path(n.Name))
	}
	if err != nil {
		return fmt.Errorf("creating network %s: %w", n.Name, err)
	}
	return nil
}

// ensureDefault makes the default network's file if it is missing. It
// takes no lock (List and Get may run under the caller's Lock): the
// file is linked into place, and two processes doing it at once write
// the same network (its ID is fixed), one of them in vain.
func (s *Store) ensureDefault() error {
	if _, err := os.Lstat(s.path(DefaultName)); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading the default network: %w", err)
	}
	n := &Network{
		Name: DefaultName, ID: defaultID(), Driver: Driver,
		Subnet: DefaultSubnet, Gateway: DefaultGateway, MTU: DefaultMTU, Created: time.Now(),
	}
	if err := s.write(n); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// List returns every network, the default one included (made if
// missing), sorted by name as podman's network ls is.
func (s *Store) List() ([]*Network, error) {
	if err := s.ensureDefault(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing the networks: %w", err)
	}
	var out []*Network
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() {
			continue
		}
		n, err := s.load(name)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// load reads network name's file.
func (s *Store) load(name string) (*Network, error) {
	data, err := os.ReadFile(s.path(name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("unable to find network with name or ID %s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("reading network %s: %w", name, err)
	}
	n := &Network{}
	if err := json.Unmarshal(data, n); err != nil {
		return nil, fmt.Errorf("reading network %s: %s is damaged (%v): remove it", name, s.path(name), err)
	}
	if n.Name != name {
		return nil, fmt.Errorf("reading network %s: %s names network %q: remove it", name, s.path(name), n.Name)
	}
	return n, nil
}

// Get is the network named ref, or whose ID is ref, or whose ID alone
// starts with ref, in that order (podman's lookup). ErrNotFound if none;
// ErrInvalid if ref is the prefix of several IDs.
func (s *Store) Get(ref string) (*Network, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	return lookup(all, ref)
}

func lookup(all []*Network, ref string) (*Network, error) {
	for _, n := range all {
		if n.Name == ref {
			return n, nil
		}
	}
	var found *Network
	if ref != "" {
		for _, n := range all {
			if n.ID == ref {
				return n, nil
			}
			if strings.HasPrefix(n.ID, ref) {
				if found != nil {
					return nil, fmt.Errorf("more than one result for network ID %s: give more of the ID, or the name: %w", ref, ErrInvalid)
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("unable to find network with name or ID %s: %w", ref, ErrNotFound)
	}
	return found, nil
}

// Remove removes the network ref (a name, ID or ID prefix, as Get) and
// returns it. Under the store's lock, check (if not nil) is called first
// with the network; its error stops the removal and is returned (a
// caller checks there that no sandbox uses the network). The default
// network is refused with ErrDefault.
func (s *Store) Remove(ref string, check func(*Network) error) (*Network, error) {
	unlock, err := s.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	if n.Name == DefaultName {
		return nil, defaultError{}
	}
	if check != nil {
		if err := check(n); err != nil {
			return nil, err
		}
	}
	if err := os.Remove(s.path(n.Name)); err != nil {
		return nil, fmt.Errorf("removing network %s: %w", n.Name, err)
	}
	return n, nil
}
