package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"usandbox/sandbox"
	"usandbox/volume"
)

// Volume is a volume's record, in podman's inspect shape.
type Volume = volume.Volume

// VolumeCreateOptions describe a new volume (volume create).
type VolumeCreateOptions struct {
	// Name: "" makes one with a random name, as podman does.
	Name   string
	Labels map[string]string
}

// VolumeCreate makes an empty volume, which the first sandbox to mount it
// over image files fills with them. ErrConflict if the name is taken.
func (e *Engine) VolumeCreate(ctx context.Context, o VolumeCreateOptions) (*Volume, error) {
	if o.Name != "" {
		if err := volume.CheckName(o.Name); err != nil {
			return nil, classify(err)
		}
	}
	unlock, err := volume.Lock(e.paths)
	if err != nil {
		return nil, err
	}
	defer unlock()
	v, err := volume.Create(e.paths, volume.CreateOptions{Name: o.Name, Labels: o.Labels})
	return v, classify(err)
}

// VolumeInspect is volume name's record (ErrNotFound if there is none).
func (e *Engine) VolumeInspect(ctx context.Context, name string) (*Volume, error) {
	v, err := volume.Load(e.paths, name)
	return v, classify(err)
}

// VolumeFilters select volumes as podman's volume ls --filter does: a
// volume must match every key, and one of the values given for a key.
type VolumeFilters struct {
	keys filterSet[*Volume]
}

// ParseVolumeFilters parses KEY=VALUE filters: name (a regular
// expression, as podman's), label (KEY or KEY=VALUE), driver (local) and
// dangling (true: used by no sandbox; false: used by one).
func ParseVolumeFilters(fs []string) (VolumeFilters, error) {
	f := VolumeFilters{keys: filterSet[*Volume]{}}
	for _, s := range fs {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return f, as(ErrInvalid, fmt.Errorf("invalid filter %q: want KEY=VALUE", s))
		}
		var m func(*Volume, bool) bool
		switch key {
		case "name":
			re, err := regexp.Compile(value)
			if err != nil {
				return f, as(ErrInvalid, fmt.Errorf("invalid name filter %q: %w", value, err))
			}
			m = func(v *Volume, _ bool) bool { return re.MatchString(v.Name) }
		case "label":
			m = labelFilter(value, func(x *Volume) map[string]string { return x.Labels })
		case "driver":
			m = func(v *Volume, _ bool) bool { return v.Driver == value }
		case "dangling":
			var err error
			if m, err = danglingFilter[*Volume](value); err != nil {
				return f, err
			}
		default:
			return f, as(ErrInvalid, fmt.Errorf("invalid filter %q: usandbox knows name, label, driver and dangling", key))
		}
		f.keys.add(key, m)
	}
	return f, nil
}

func (f VolumeFilters) match(x *Volume, used bool) bool { return f.keys.match(x, used) }

// VolumeList returns the volumes that match f, by name.
func (e *Engine) VolumeList(ctx context.Context, f VolumeFilters) ([]*Volume, error) {
	all, err := volume.List(e.paths)
	if err != nil {
		return nil, err
	}
	var used map[string]bool
	if len(f.keys["dangling"]) > 0 {
		if used, err = e.usedVolumes(); err != nil {
			return nil, err
		}
	}
	var out []*Volume
	for _, v := range all {
		if f.match(v, used[v.Name]) {
			out = append(out, v)
		}
	}
	return out, nil
}

// usedVolumes are the names of the volumes some sandbox mounts.
func (e *Engine) usedVolumes() (map[string]bool, error) {
	all, err := sandbox.List(e.paths)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, sb := range all {
		for _, m := range sb.Spec.Mounts {
			if m.Type == "volume" && m.Name != "" {
				used[m.Name] = true
			}
		}
	}
	return used, nil
}

// VolumeRemove removes volume name and its files. A volume that a
// sandbox uses (running or not) is refused with ErrConflict, as podman
// does, unless force, which removes those sandboxes first (stopping the
// running ones), as podman's volume rm -f does.
func (e *Engine) VolumeRemove(ctx context.Context, name string, force bool) error {
	if _, err := volume.Load(e.paths, name); err != nil {
		return classify(fmt.Errorf("no volume with name %q found: %w", name, volume.ErrNoSuchVolume))
	}
	for {
		unlock, err := volume.Lock(e.paths)
		if err != nil {
			return err
		}
		users, err := sandbox.UsersOf(e.paths, name)
		if err != nil {
			unlock()
			return err
		}
		if len(users) == 0 {
			dir, err := volume.Detach(e.paths, name)
			unlock()
			if err != nil {
				return classify(err)
			}
			return e.host.RemoveDir(dir)
		}
		unlock()
		if !force {
			var ids []string
			for _, sb := range users {
				ids = append(ids, sb.ID)
			}
			return as(ErrConflict, fmt.Errorf("volume %s is being used by the following sandbox(es): %s: remove them first, or use volume rm -f", name, strings.Join(ids, ", ")))
		}
		// The sandboxes go under their own locks, with the volumes lock
		// let go (a sandbox's create takes it); then the check again.
		for _, sb := range users {
			if err := e.forceRemove(ctx, sb); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
}

// VolumePrune removes every volume that no sandbox uses (system prune
// --volumes calls it too) and what removals cut short left, and returns
// the names removed.
func (e *Engine) VolumePrune(ctx context.Context) ([]string, error) {
	return e.VolumePruneLabels(ctx, nil)
}

// VolumePruneLabels is VolumePrune of the volumes that have every one of
// labels (KEY or KEY=VALUE), as docker's volume prune --filter label.
// Then what removals cut short left stays for an unfiltered prune.
func (e *Engine) VolumePruneLabels(ctx context.Context, labels []string) ([]string, error) {
	match, err := allLabels(labels, func(v *Volume) map[string]string { return v.Labels })
	if err != nil {
		return nil, err
	}
	unlock, err := volume.Lock(e.paths)
	if err != nil {
		return nil, err
	}
	used, err := e.usedVolumes()
	if err != nil {
		unlock()
		return nil, err
	}
	all, err := volume.List(e.paths)
	if err != nil {
		unlock()
		return nil, err
	}
	var names, dirs []string
	for _, v := range all {
		if used[v.Name] || !match(v) {
			continue
		}
		dir, err := volume.Detach(e.paths, v.Name)
		if err != nil {
			unlock()
			return nil, classify(err)
		}
		names, dirs = append(names, v.Name), append(dirs, dir)
	}
	if len(labels) == 0 {
		dirs = append(dirs, volume.Leftovers(e.paths)...)
	}
	unlock()
	var errs []error
	for _, d := range dirs {
		if err := e.host.RemoveDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return names, errors.Join(errs...)
}

// dropVolumes removes the named volumes that no sandbox uses any more
// (a removed sandbox's anonymous volumes): one that another sandbox
// borrowed (--volumes-from) stays, as podman leaves it.
func (e *Engine) dropVolumes(names []string) error {
	if len(names) == 0 {
		return nil
	}
	unlock, err := volume.Lock(e.paths)
	if err != nil {
		return err
	}
	used, err := e.usedVolumes()
	if err != nil {
		unlock()
		return err
	}
	var dirs []string
	for _, n := range names {
		if used[n] {
			continue
		}
		if dir, err := volume.Detach(e.paths, n); err == nil {
			dirs = append(dirs, dir)
		}
	}
	unlock()
	var errs []error
	for _, d := range dirs {
		if err := e.host.RemoveDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// afterRun removes the volumes that go with sb once sb itself is gone:
// an --rm sandbox's anonymous volumes, and all that a new sandbox's
// create made if it failed before its command ran (ran is false).
func (e *Engine) afterRun(sb *Sandbox, ran bool) error {
	if _, err := sandbox.Load(e.paths, sb.ID); !errors.Is(err, sandbox.ErrNoSuchSandbox) {
		return nil // still there (or unreadable): its volumes stay with it
	}
	return e.dropVolumes(sb.OwnVolumes(!ran))
}
