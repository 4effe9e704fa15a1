package userns

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Request is how a sandbox asks its IDs to map (--userns, --uidmap,
// --gidmap), as podman 4.3 reads them rootless: every host ID in it is
// an index into the user's namespace (the Full plan's map: 0 is the
// user's own uid, 1… the sub-IDs), never a host ID.
type Request struct {
	// KeepID: --userns=keep-id[:uid=N,gid=N]. The user's own uid and gid
	// are KeepUID and KeepGID inside (their own numbers when nil), the
	// rest of the range fills around them.
	KeepID           bool
	KeepUID, KeepGID *uint32
	// UIDMap and GIDMap: --uidmap/--gidmap CONTAINER:INDEX:SIZE.
	UIDMap, GIDMap []IDMap
}

// Default reports whether r is the default mapping (the plan's own).
func (r Request) Default() bool { return !r.KeepID && len(r.UIDMap) == 0 && len(r.GIDMap) == 0 }

// ParseUserNS parses --userns: "" and "host" (rootless podman's host is
// the user's namespace, which is also the default), "keep-id",
// "keep-id:uid=N,gid=N".
func ParseUserNS(s string) (Request, error) {
	var r Request
	mode, opts, hasOpts := strings.Cut(s, ":")
	switch mode {
	case "", "host":
		if hasOpts {
			return r, fmt.Errorf("invalid --userns %q: %s takes no options", s, mode)
		}
		return r, nil
	case "keep-id":
	default:
		return r, fmt.Errorf("invalid --userns %q: usandbox knows host and keep-id[:uid=N,gid=N]", s)
	}
	r.KeepID = true
	if !hasOpts {
		return r, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(o, "=")
		if !ok || (k != "uid" && k != "gid") {
			return r, fmt.Errorf("invalid --userns %q: unknown option %q (keep-id takes uid=N and gid=N)", s, o)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 1<<32-1 {
			return r, fmt.Errorf("invalid --userns %q: %s must be a number below 4294967295", s, k)
		}
		id := uint32(n)
		if k == "uid" {
			r.KeepUID = &id
		} else {
			r.KeepGID = &id
		}
	}
	return r, nil
}

// ParseIDMapFlag parses the values of --uidmap or --gidmap (flag names
// the flag): each is CONTAINER:INDEX:SIZE, several triples may be joined
// by ':' or ',' as podman takes them. Overlapping container or index
// ranges are refused.
func ParseIDMapFlag(flag string, values []string) ([]IDMap, error) {
	var out []IDMap
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part == "" {
				continue
			}
			f := strings.Split(part, ":")
			if len(f)%3 != 0 {
				return nil, fmt.Errorf("invalid --%s %q: want CONTAINER-ID:HOST-ID:SIZE (HOST-ID counts in your user namespace: 0 is you, 1 your first sub-ID)", flag, v)
			}
			for i := 0; i < len(f); i += 3 {
				var n [3]uint32
				for j := range n {
					x, err := strconv.ParseUint(f[i+j], 10, 32)
					if err != nil {
						return nil, fmt.Errorf("invalid --%s %q: %q is not a number", flag, v, f[i+j])
					}
					n[j] = uint32(x)
				}
				m := IDMap{ContainerID: n[0], HostID: n[1], Size: n[2]}
				if m.Size == 0 {
					return nil, fmt.Errorf("invalid --%s %q: the size must be at least 1", flag, v)
				}
				if uint64(m.ContainerID)+uint64(m.Size) > 1<<32-1 || uint64(m.HostID)+uint64(m.Size) > 1<<32-1 {
					return nil, fmt.Errorf("invalid --%s %q: the range passes the last ID (4294967294)", flag, v)
				}
				out = append(out, m)
			}
		}
	}
	if err := checkOverlap(out); err != nil {
		return nil, fmt.Errorf("invalid --%s: %w", flag, err)
	}
	return out, nil
}

// checkOverlap refuses a map with two entries sharing an ID inside or
// outside (the kernel refuses them too, less clearly).
func checkOverlap(m []IDMap) error {
	for i, a := range m {
		for _, b := range m[:i] {
			if overlaps(a.ContainerID, a.Size, b.ContainerID, b.Size) {
				return fmt.Errorf("%d:%d:%d and %d:%d:%d map the same container IDs", b.ContainerID, b.HostID, b.Size, a.ContainerID, a.HostID, a.Size)
			}
			if overlaps(a.HostID, a.Size, b.HostID, b.Size) {
				return fmt.Errorf("%d:%d:%d and %d:%d:%d map the same host IDs", b.ContainerID, b.HostID, b.Size, a.ContainerID, a.HostID, a.Size)
			}
		}
	}
	return nil
}

func overlaps(a, n, b, m uint32) bool {
	return uint64(a) < uint64(b)+uint64(m) && uint64(b) < uint64(a)+uint64(n)
}

// KeepIDMap is podman's keep-id map of one kind of ID, relative to the
// user's namespace of size IDs (own ID and sub-IDs): id inside is index
// 0 (the user), 0…id-1 inside are indexes 1…id, and the indexes above id
// stay themselves. podman's zero-sized first entry (id 0) is left out:
// keep-id:uid=0 is then the default map.
func KeepIDMap(id uint32, size uint64) []IDMap {
	var m []IDMap
	below := min(uint64(id), size-1)
	if below > 0 {
		m = append(m, IDMap{ContainerID: 0, HostID: 1, Size: uint32(below)})
	}
	m = append(m, IDMap{ContainerID: id, HostID: 0, Size: 1})
	if size-1 > uint64(id) {
		m = append(m, IDMap{ContainerID: id + 1, HostID: id + 1, Size: uint32(size - 1 - uint64(id))})
	}
	return m
}

// Compose translates inner, whose host IDs are IDs inside outer, into a
// map of host IDs: each entry is split where outer's entries end. An ID
// of inner that outer does not map is an error: the result never holds
// a host ID that outer does not.
func Compose(inner, outer []IDMap) ([]IDMap, error) {
	var out []IDMap
	for _, e := range inner {
		c, i, left := e.ContainerID, e.HostID, uint64(e.Size)
		for left > 0 {
			h, n, ok := lookup(outer, i)
			if !ok {
				return nil, fmt.Errorf("ID %d of your user namespace is not yours (it has %d: 0 is you, 1-%d your sub-IDs in /etc/subuid and /etc/subgid)", i, Size(outer), Size(outer)-1)
			}
			n = min(n, left)
			out = append(out, IDMap{ContainerID: c, HostID: h, Size: uint32(n)})
			c, i, left = c+uint32(n), i+uint32(n), left-n
		}
	}
	return merge(out), nil
}

// lookup finds the host ID of id inside m and how many IDs from it on
// follow in the same entry.
func lookup(m []IDMap, id uint32) (host uint32, n uint64, ok bool) {
	for _, e := range m {
		if id >= e.ContainerID && uint64(id-e.ContainerID) < uint64(e.Size) {
			off := id - e.ContainerID
			return e.HostID + off, uint64(e.Size - off), true
		}
	}
	return 0, 0, false
}

// merge joins entries that continue each other inside and outside.
func merge(m []IDMap) []IDMap {
	var out []IDMap
	for _, e := range m {
		if k := len(out) - 1; k >= 0 && out[k].ContainerID+out[k].Size == e.ContainerID && out[k].HostID+out[k].Size == e.HostID {
			out[k].Size += e.Size
			continue
		}
		out = append(out, e)
	}
	return out
}

// mapsIndex reports whether some entry of m maps to the ID i outside.
func mapsIndex(m []IDMap, i uint32) bool {
	for _, e := range m {
		if i >= e.HostID && uint64(i-e.HostID) < uint64(e.Size) {
			return true
		}
	}
	return false
}

// within reports whether every host ID of m is a host ID of own.
func within(m, own []IDMap) bool {
	inv := make([]IDMap, len(own))
	for i, e := range own {
		inv[i] = IDMap{ContainerID: e.HostID, HostID: e.ContainerID, Size: e.Size}
	}
	for _, e := range m {
		if _, err := Compose([]IDMap{{ContainerID: 0, HostID: e.HostID, Size: e.Size}}, inv); err != nil {
			return false
		}
	}
	return true
}

// ErrNoSubIDs is a request that needs sub-IDs the user lacks (single-ID
// mode) or a user namespace usandbox does not make (real root).
var ErrNoSubIDs = errors.New("needs a sub-ID range")

// SandboxMaps is the map of host IDs that a sandbox asking for r gets
// (nil, nil for the plan's own map), and the user it runs as by default
// ("UID:GID", keep-id; "" otherwise). Every host ID in them is one of
// the plan's: the user's own or its sub-IDs.
func (p *Plan) SandboxMaps(r Request) (uidMap, gidMap []IDMap, user string, err error) {
	if r.Default() {
		return nil, nil, "", nil
	}
	if r.KeepID && (len(r.UIDMap) > 0 || len(r.GIDMap) > 0) {
		return nil, nil, "", errors.New("--userns=keep-id and --uidmap/--gidmap cannot be used together")
	}
	switch p.Mode {
	case Root:
		return nil, nil, "", fmt.Errorf("%w: --userns=keep-id, --uidmap and --gidmap are for rootless usandbox (as root there is no user namespace)", ErrNoSubIDs)
	case Single:
		what := "--uidmap/--gidmap"
		if r.KeepID {
			what = "--userns=keep-id"
		}
		return nil, nil, "", fmt.Errorf("%w: %s needs a sub-ID range for %s in /etc/subuid and /etc/subgid (fix: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", ErrNoSubIDs, what, p.User, p.User)
	}
	var innerU, innerG []IDMap
	if r.KeepID {
		uid, gid := p.UID, p.GID
		if r.KeepUID != nil {
			uid = *r.KeepUID
		}
		if r.KeepGID != nil {
			gid = *r.KeepGID
		}
		innerU, innerG = KeepIDMap(uid, Size(p.UIDMap)), KeepIDMap(gid, Size(p.GIDMap))
		user = strconv.FormatUint(uint64(uid), 10) + ":" + strconv.FormatUint(uint64(gid), 10)
	} else {
		// podman: one of the two given stands for both.
		innerU, innerG = r.UIDMap, r.GIDMap
		if len(innerU) == 0 {
			innerU = innerG
		}
		if len(innerG) == 0 {
			innerG = innerU
		}
		// The sandbox is set up by its root: usandbox's setup and exec
		// become uid and gid 0 inside.
		for _, k := range []struct {
			flag string
			m    []IDMap
		}{{"uidmap", innerU}, {"gidmap", innerG}} {
			if _, ok := ToHost(k.m, 0); !ok {
				return nil, nil, "", fmt.Errorf("invalid --%s: it must map container ID 0 (the sandbox is set up by its root)", k.flag)
			}
			// The store (image layers, the sandbox's directory) is the
			// user's: the setup reaches it only if the user is mapped.
			if !mapsIndex(k.m, 0) {
				return nil, nil, "", fmt.Errorf("invalid --%s: it must map host ID 0 (you: the sandbox's root reaches your store through it), e.g. --%s 0:1:1000 --%s 1000:0:1", k.flag, k.flag, k.flag)
			}
		}
	}
	if uidMap, err = Compose(innerU, p.UIDMap); err != nil {
		return nil, nil, "", fmt.Errorf("invalid --uidmap: %w", err)
	}
	if gidMap, err = Compose(innerG, p.GIDMap); err != nil {
		return nil, nil, "", fmt.Errorf("invalid --gidmap: %w", err)
	}
	return uidMap, gidMap, user, nil
}

// WithMaps is p writing uidMap and gidMap (host IDs, as SandboxMaps
// makes them) instead of its own; nil keeps p's. It refuses a map with
// a host ID that is not the user's own or one of its sub-IDs (a record
// written when /etc/subuid said otherwise), whatever newuidmap would say.
func (p *Plan) WithMaps(uidMap, gidMap []IDMap) (*Plan, error) {
	if len(uidMap) == 0 && len(gidMap) == 0 {
		return p, nil
	}
	if p.Mode != Full {
		return nil, fmt.Errorf("%w: this sandbox was created with its own ID map, which needs your sub-ID range in /etc/subuid and /etc/subgid", ErrNoSubIDs)
	}
	q := *p
	if len(uidMap) > 0 {
		if !within(uidMap, p.UIDMap) {
			return nil, errors.New("this sandbox's uid map has IDs that are not yours any more (see /etc/subuid): remove it and create it again")
		}
		q.UIDMap = slices.Clone(uidMap)
	}
	if len(gidMap) > 0 {
		if !within(gidMap, p.GIDMap) {
			return nil, errors.New("this sandbox's gid map has IDs that are not yours any more (see /etc/subgid): remove it and create it again")
		}
		q.GIDMap = slices.Clone(gidMap)
	}
	return &q, nil
}
