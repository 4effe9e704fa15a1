package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"usandbox/internal/role"
	"usandbox/userns"

	"usandbox/sandbox/spec"
	"usandbox/storage/index"
	"usandbox/volume"
)

// VolumesFrom is one --volumes-from: the sandbox whose volumes and bind
// mounts are lent, and the mode imposed on them ("ro", "rw", or "" to
// keep each one's).
type VolumesFrom struct {
	Ref  string
	Mode string
}

// withLentAndImageVolumes is the sandbox's mounts: the user's, then what
// --volumes-from lends at destinations the user left free, then an
// anonymous volume for each of the image's VOLUMEs still free, as docker
// orders them.
func withLentAndImageVolumes(o Options) ([]spec.Mount, error) {
	out := append([]spec.Mount(nil), o.Volumes...)
	taken := map[string]bool{}
	for _, m := range out {
		taken[filepath.Clean(m.Destination)] = true
	}
	for _, vf := range o.VolumesFrom {
		// Refusals of the option, not a missing image (ErrNoSuchSandbox
		// would read as one).
		other, err := Lookup(o.Paths, vf.Ref)
		if err != nil {
			return nil, invalidf("--volumes-from %s: %v", vf.Ref, err)
		}
		if err := other.Damaged(); err != nil {
			return nil, invalidf("--volumes-from %s: %v", vf.Ref, err)
		}
		for _, m := range Volumes(&other.Spec) {
			if m.Type == "tmpfs" || taken[m.Destination] {
				continue
			}
			// Lent, not given: rm -v of this sandbox leaves it alone.
			m.Anonymous, m.Chown = false, false
			switch vf.Mode {
			case "ro":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			}
			taken[m.Destination] = true
			out = append(out, m)
		}
	}
	var image []string
	for d := range o.Image.Config.Volumes {
		image = append(image, d)
	}
	sort.Strings(image) // a map: in a stable order
	for _, d := range image {
		d = filepath.Clean(d)
		if !filepath.IsAbs(d) || taken[d] {
			continue
		}
		taken[d] = true
		out = append(out, spec.Mount{Type: "volume", Destination: d, Anonymous: true, CopyUp: true})
	}
	if err := checkMounts(out); err != nil {
		return nil, err
	}
	return out, nil
}

// madeVolumes are the volumes a create made, to undo if it fails.
type madeVolumes struct {
	p     index.Paths
	named []string // created on first use
	all   []string // those and the anonymous ones
}

// undo removes the volumes made: nothing was copied into them yet, so
// they hold only the user's own files.
func (m *madeVolumes) undo() {
	for _, name := range m.all {
		if dir, err := volume.Detach(m.p, name); err == nil {
			// Empty, the user's: a failure leaves a hidden leftover that
			// volume prune removes.
			_ = os.RemoveAll(dir)
		}
	}
}

// makeVolumes gives each volume mount of ms its volume: a named one is
// created if missing (as podman does on first use), an anonymous one is
// new. The caller holds volume.Lock.
// usesVolumes reports whether any of ms is a volume.
func usesVolumes(ms []spec.Mount) bool {
	for _, m := range ms {
		if m.Type == "volume" {
			return true
		}
	}
	return false
}

func makeVolumes(p index.Paths, ms []spec.Mount) (*madeVolumes, error) {
	made := &madeVolumes{p: p}
	for i := range ms {
		m := &ms[i]
		if m.Type != "volume" {
			continue
		}
		if m.Name != "" {
			_, err := volume.Load(p, m.Name)
			if errors.Is(err, volume.ErrNoSuchVolume) {
				_, err = volume.Create(p, volume.CreateOptions{Name: m.Name})
				if err == nil {
					made.named = append(made.named, m.Name)
					made.all = append(made.all, m.Name)
				}
			}
			if err != nil {
				made.undo()
				return nil, fmt.Errorf("volume %s: %w", m.Name, err)
			}
		} else {
			v, err := volume.Create(p, volume.CreateOptions{Anonymous: true})
			if err != nil {
				made.undo()
				return nil, err
			}
			m.Name = v.Name
			made.all = append(made.all, v.Name)
		}
		m.Source = volume.DataPath(p, m.Name)
	}
	return made, nil
}

// UsersOf are the sandboxes whose mounts name volume name.
func UsersOf(p index.Paths, name string) ([]*Sandbox, error) {
	all, err := List(p)
	if err != nil {
		return nil, err
	}
	var out []*Sandbox
	for _, sb := range all {
		for _, m := range sb.Spec.Mounts {
			if m.Type == "volume" && m.Name == name {
				out = append(out, sb)
				break
			}
		}
	}
	return out, nil
}

// OwnVolumes are the volumes that go with sb when it is removed: its
// anonymous ones, and, if it never ran (failed), the named ones its
// create made as well.
func (s *Sandbox) OwnVolumes(neverRan bool) []string {
	var out []string
	for _, m := range s.Spec.Mounts {
		if m.Type == "volume" && m.Anonymous && m.Name != "" {
			out = append(out, m.Name)
		}
	}
	if neverRan {
		out = append(out, s.CreatedVolumes...)
	}
	return out
}

// removeSandboxDir removes what is left of a sandbox's directory once the
// keeper removed its upper layer. The layers of its O volumes are left
// too, and hold files of the sandbox's IDs: if the user cannot delete
// them, they go through the user namespace (role Remove). plan nil: this
// user's plan, worked out now.
func removeSandboxDir(plan *userns.Plan, dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || os.Geteuid() == 0 {
		return err
	}
	if _, statErr := os.Stat(filepath.Join(dir, spec.OverlayVolumesDir)); statErr != nil {
		return err // nothing of the sandbox's IDs to expect there
	}
	if plan == nil {
		var perr error
		if plan, perr = userns.Detect(); perr != nil {
			return errors.Join(err, perr)
		}
	}
	code, rerr := plan.ReexecRole(role.Remove, []string{"usandbox-remove", dir})
	if rerr == nil && code != 0 {
		rerr = fmt.Errorf("removing %s in the user namespace failed (exit %d)", ShortID(filepath.Base(dir)), code)
	}
	return rerr
}

// removesInUserNS reports whether removing the sandbox takes the user
// namespace beyond what its keeper does: it has anonymous volumes or O
// volumes (their layers are in its directory).
func (s *Sandbox) removesInUserNS() bool {
	for _, m := range s.Spec.Mounts {
		if m.Overlay || m.Type == "volume" && m.Anonymous {
			return true
		}
	}
	return false
}
