package sandbox

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"usandbox/sandbox/spec"
	"usandbox/volume"
)

// ParseVolume parses -v as podman does: HOST-PATH:CONTAINER-PATH[:OPTS]
// (a host path is absolute or ./relative), NAME:CONTAINER-PATH[:OPTS] (a
// named volume, created on first use) or CONTAINER-PATH alone (an
// anonymous volume). OPTS are comma-separated: ro, rw, z and Z (SELinux
// relabelling: accepted, as podman does, on a host without SELinux
// there is nothing to relabel), U (chown the source to the command's
// user), O (an overlay of the sandbox's own over a host directory, as
// podman's) and, for volumes, nocopy.
func ParseVolume(v string) (spec.Mount, error) {
	parts := strings.Split(v, ":")
	var m spec.Mount
	var opts string
	switch len(parts) {
	case 1:
		m = spec.Mount{Type: "volume", Destination: parts[0], Anonymous: true, CopyUp: true}
	case 2, 3:
		m = spec.Mount{Type: "bind", Source: parts[0], Destination: parts[1]}
		if len(parts) == 3 {
			opts = parts[2]
		}
	default:
		return spec.Mount{}, fmt.Errorf("invalid volume %q: use SOURCE:CONTAINER-PATH[:OPTIONS] (SOURCE a host path or a volume name) or CONTAINER-PATH", v)
	}
	if m.Type == "bind" && !strings.HasPrefix(m.Source, "/") && !strings.HasPrefix(m.Source, ".") {
		if err := volume.CheckName(m.Source); err != nil {
			return spec.Mount{}, fmt.Errorf("invalid volume %q: %v", v, unwrapInvalid(err))
		}
		m = spec.Mount{Type: "volume", Name: m.Source, Destination: m.Destination, CopyUp: true}
	}
	if !strings.HasPrefix(m.Destination, "/") {
		return spec.Mount{}, fmt.Errorf("invalid volume %q: the container path must be absolute", v)
	}
	m.Destination = filepath.Clean(m.Destination)
	ro, rw := false, false
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "":
		case "ro":
			ro = true
		case "rw":
			rw = true
		case "z", "Z":
			// No SELinux on this host: nothing to relabel (podman, too,
			// accepts them there and does nothing).
		case "U":
			m.Chown = true
		case "O":
			m.Overlay = true
		case "nocopy":
			if m.Type != "volume" {
				return spec.Mount{}, fmt.Errorf("invalid volume %q: nocopy is only for volumes, not host paths", v)
			}
			m.CopyUp = false
		default:
			return spec.Mount{}, fmt.Errorf("invalid volume %q: unknown option %q (usandbox knows ro, rw, z, Z, U, O and nocopy)", v, o)
		}
	}
	if m.Overlay && m.Type != "bind" {
		return spec.Mount{}, fmt.Errorf("invalid volume %q: O is only for host directories, not volumes", v)
	}
	if ro && rw {
		return spec.Mount{}, fmt.Errorf("invalid volume %q: ro and rw contradict each other", v)
	}
	m.ReadOnly = ro
	if m.Type == "bind" {
		abs, err := filepath.Abs(m.Source)
		if err != nil {
			return spec.Mount{}, err
		}
		m.Source = abs
	}
	return m, nil
}

// mountUsage is podman's hint for a --mount it cannot read.
const mountUsage = "--mount type=<bind|tmpfs|volume>,[src=<host-dir|volume-name>,]target=<ctr-dir>[,options]"

// ParseMount parses docker's long form, --mount type=bind|volume|tmpfs,
// src|source=…, dst|destination|target=…, ro|readonly[=true|false], with
// bind-propagation (only private and rprivate: a sandbox's mounts never
// propagate), volume-nocopy, tmpfs-size and tmpfs-mode.
func ParseMount(s string) (spec.Mount, error) {
	fields := map[string]string{}
	var order []string
	for _, f := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(f, "=")
		k = strings.TrimSpace(k)
		switch k {
		case "src", "source":
			k = "source"
		case "dst", "destination", "target":
			k = "target"
		case "ro", "readonly":
			k = "readonly"
			if !hasValue {
				v = "true"
			}
		case "":
			continue
		}
		if _, dup := fields[k]; dup {
			return spec.Mount{}, fmt.Errorf("invalid --mount %q: %s given twice", s, k)
		}
		fields[k] = v
		order = append(order, k)
	}
	typ, ok := fields["type"]
	if !ok {
		return spec.Mount{}, fmt.Errorf("invalid --mount %q: incorrect mount format: should be %s", s, mountUsage)
	}
	dst := fields["target"]
	if dst == "" {
		return spec.Mount{}, fmt.Errorf("invalid --mount %q: a target (dst=, target=, destination=) is needed: %s", s, mountUsage)
	}
	if !strings.HasPrefix(dst, "/") {
		return spec.Mount{}, fmt.Errorf("invalid --mount %q: the target must be absolute", s)
	}
	src, hasSrc := fields["source"]
	m := spec.Mount{Destination: filepath.Clean(dst)}
	switch typ {
	case "bind":
		if src == "" {
			return spec.Mount{}, fmt.Errorf("invalid --mount %q: a bind mount needs a source (src=HOST-PATH)", s)
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			return spec.Mount{}, err
		}
		m.Type, m.Source = "bind", abs
	case "volume":
		m.Type, m.CopyUp = "volume", true
		if src == "" {
			m.Anonymous = true
		} else if err := volume.CheckName(src); err != nil {
			return spec.Mount{}, fmt.Errorf("invalid --mount %q: %v", s, unwrapInvalid(err))
		} else {
			m.Name = src
		}
	case "tmpfs":
		if hasSrc {
			return spec.Mount{}, fmt.Errorf("invalid --mount %q: source is not supported with tmpfs mounts", s)
		}
		m.Type = "tmpfs"
	default:
		return spec.Mount{}, fmt.Errorf("invalid --mount %q: invalid mount type %q (bind, volume or tmpfs)", s, typ)
	}
	var tmpfsOpts []string
	for _, k := range order {
		v := fields[k]
		switch k {
		case "type", "source", "target":
		case "readonly":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return spec.Mount{}, fmt.Errorf("invalid --mount %q: readonly=%q: want true or false", s, v)
			}
			m.ReadOnly = b
		case "bind-propagation":
			if m.Type != "bind" {
				return spec.Mount{}, fmt.Errorf("invalid --mount %q: bind-propagation is only for bind mounts", s)
			}
			if v != "private" && v != "rprivate" {
				return spec.Mount{}, fmt.Errorf("invalid --mount %q: bind-propagation=%s: usandbox's mounts are always private (rprivate), the sandbox's mount namespace shares nothing with the host's", s, v)
			}
		case "volume-nocopy":
			if m.Type != "volume" {
				return spec.Mount{}, fmt.Errorf("invalid --mount %q: volume-nocopy is only for volumes", s)
			}
			if v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return spec.Mount{}, fmt.Errorf("invalid --mount %q: volume-nocopy=%q: want true or false", s, v)
				}
				m.CopyUp = !b
			} else {
				m.CopyUp = false
			}
		case "tmpfs-size", "tmpfs-mode":
			if m.Type != "tmpfs" {
				return spec.Mount{}, fmt.Errorf("invalid --mount %q: %s is only for tmpfs mounts", s, k)
			}
			if k == "tmpfs-size" {
				n, err := units.RAMInBytes(v)
				if err != nil || n <= 0 {
					return spec.Mount{}, fmt.Errorf("invalid --mount %q: tmpfs-size=%q: want a size (64m, 1g, bytes)", s, v)
				}
				tmpfsOpts = append(tmpfsOpts, "size="+strconv.FormatInt(n, 10))
			} else {
				n, err := strconv.ParseUint(v, 8, 32)
				if err != nil || n > 0o7777 {
					return spec.Mount{}, fmt.Errorf("invalid --mount %q: tmpfs-mode=%q: want an octal mode (1777)", s, v)
				}
				tmpfsOpts = append(tmpfsOpts, "mode="+v)
			}
		case "z", "Z", "relabel":
			// No SELinux here: nothing to relabel.
		default:
			return spec.Mount{}, fmt.Errorf("invalid --mount %q: unknown option %q", s, k)
		}
	}
	m.Options = strings.Join(tmpfsOpts, ",")
	return m, nil
}

// ParseVolumesFrom parses --volumes-from SANDBOX[:ro|rw][,z|Z]: the
// sandbox and the mode it imposes on the mounts it lends ("" keeps each
// mount's own).
func ParseVolumesFrom(s string) (ref, mode string, err error) {
	ref, opts, _ := strings.Cut(s, ":")
	if ref == "" {
		return "", "", fmt.Errorf("invalid --volumes-from %q: name a sandbox", s)
	}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "":
		case "ro", "rw":
			if mode != "" && mode != o {
				return "", "", fmt.Errorf("invalid --volumes-from %q: ro and rw contradict each other", s)
			}
			mode = o
		case "z", "Z":
		default:
			return "", "", fmt.Errorf("invalid --volumes-from %q: unknown option %q (ro, rw, z or Z)", s, o)
		}
	}
	return ref, mode, nil
}

// unwrapInvalid is err's message without the ErrInvalid prefix.
func unwrapInvalid(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+volume.ErrInvalid.Error())
}
