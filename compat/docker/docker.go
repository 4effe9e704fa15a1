// Package docker shows usandbox's sandboxes and images in Docker Engine
// API's types (github.com/moby/moby/api): what `usandbox inspect` prints
// and what a Docker-compatible socket would answer. It converts only; it
// reads no file and runs nothing.
package docker

import (
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	unet "usandbox/network"
	"usandbox/network/holder"
	"usandbox/sandbox"
	"usandbox/sandbox/caps"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
)

// Time is t as docker writes times: RFC 3339 with nanoseconds, in UTC;
// the zero time is "0001-01-01T00:00:00Z", as docker has it for a
// container that never started.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Container is sb as docker's container inspect shows it. im is the image
// sb was made from, or nil if it is gone: with it, Config.Entrypoint and
// Config.Cmd are told apart (the record keeps the command they make
// together) and the image's exposed ports and labels are shown.
//
// Name has docker's leading "/"; podman shows the bare name.
func Container(sb *sandbox.Sandbox, im *index.Image) container.InspectResponse {
	st := sb.State
	out := container.InspectResponse{
		ID: sb.ID,
		State: &container.State{
			Status:     container.ContainerState(st.Status),
			Running:    st.Running,
			OOMKilled:  st.OOMKilled,
			Dead:       st.Status == sandbox.StatusUnknown,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  Time(st.StartedAt),
			FinishedAt: Time(st.FinishedAt),
			Health:     health(st.Health),
		},
		RestartCount: st.RestartCount,
		LogPath:      filepath.Join(sb.Dir, sandbox.LogFile),
		Args:         []string{},
		Mounts:       []container.MountPoint{},
		Platform:     "linux",
	}
	if sb.Damaged() != nil {
		// Nothing but what the directory says: the record is unreadable.
		return out
	}
	s := sb.Spec
	out.Created = Time(sb.Created)
	out.Name = "/" + sb.Name
	if len(sb.Command) > 0 {
		out.Path, out.Args = sb.Command[0], append([]string{}, sb.Command[1:]...)
	}
	out.Image = "sha256:" + sb.ImageID
	if s.StateDir != "" {
		etc := filepath.Join(s.StateDir, "etc")
		out.ResolvConfPath = filepath.Join(etc, "resolv.conf")
		out.HostnamePath = filepath.Join(etc, "hostname")
		out.HostsPath = filepath.Join(etc, "hosts")
	}
	out.Driver = "overlay"
	if s.Rootfs.Upper != "" {
		lowers := make([]string, len(s.Rootfs.Lowers))
		for i, l := range s.Rootfs.Lowers {
			lowers[i] = filepath.Join(s.Rootfs.Home, l)
		}
		out.GraphDriver = &storage.DriverData{Name: "overlay", Data: map[string]string{
			"LowerDir": strings.Join(lowers, ":"), "UpperDir": s.Rootfs.Upper,
			"WorkDir": s.Rootfs.Work, "MergedDir": s.Rootfs.Target,
		}}
	}
	out.Config = config(sb, im)
	out.HostConfig = hostConfig(sb)
	for _, m := range sandbox.Volumes(&s) {
		out.Mounts = append(out.Mounts, mountPoint(m))
	}
	out.NetworkSettings = &container.NetworkSettings{Ports: portMap(sb.Ports, true), Networks: endpoints(sb)}
	return out
}

// endpoints are a member's networks: each with its address while it
// runs (as its last start got it), and its aliases.
func endpoints(sb *sandbox.Sandbox) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	var addrs []holder.Address
	if sb.State.Running {
		addrs = sb.NetworkAddresses()
	}
	for _, a := range sb.Network.Networks {
		ep := &network.EndpointSettings{Aliases: nonNil(a.Aliases), DNSNames: append([]string{sb.Name, sandbox.ShortID(sb.ID)}, a.Aliases...)}
		for _, ad := range addrs {
			if ad.Network != a.Name {
				continue
			}
			ep.IPAddress, _ = netip.ParseAddr(ad.IP)
			ep.Gateway, _ = netip.ParseAddr(ad.Gateway)
			ep.IPPrefixLen = ad.Prefix
			if mac, err := net.ParseMAC(ad.MAC); err == nil {
				ep.MacAddress = network.HardwareAddr(mac)
			}
		}
		out[a.Name] = ep
	}
	return out
}

// config is Config: the sandbox's process, and from the image what the
// record does not keep.
func config(sb *sandbox.Sandbox, im *index.Image) *container.Config {
	s := sb.Spec
	c := &container.Config{
		Hostname:     s.Hostname,
		User:         s.Process.User,
		Env:          nonNil(s.Process.Env),
		Cmd:          nonNil(sb.Command),
		Image:        sb.Image,
		WorkingDir:   s.Process.Cwd,
		Tty:          s.Process.Terminal,
		AttachStdout: !sb.Detached,
		AttachStderr: !sb.Detached,
		Labels:       map[string]string{},
		ExposedPorts: network.PortSet{},
	}
	if im != nil {
		ic := im.Config
		// The command is the entrypoint then the rest, unless
		// --entrypoint replaced it (then the image's is not its prefix).
		if n := len(ic.Entrypoint); n > 0 && len(sb.Command) >= n && slices.Equal(sb.Command[:n], ic.Entrypoint) {
			c.Entrypoint, c.Cmd = ic.Entrypoint, nonNil(sb.Command[n:])
		}
		for k, v := range ic.Labels {
			c.Labels[k] = v
		}
		for p := range ic.ExposedPorts {
			if pt, err := network.ParsePort(p); err == nil {
				c.ExposedPorts[pt] = struct{}{}
			}
		}
		if len(ic.Volumes) > 0 {
			c.Volumes = map[string]struct{}{}
			for v := range ic.Volumes {
				c.Volumes[v] = struct{}{}
			}
		}
		c.StopSignal = ic.StopSignal
	}
	if hc := sb.Healthcheck; hc != nil {
		c.Healthcheck = &container.HealthConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout, StartPeriod: hc.StartPeriod, Retries: hc.Retries}
	}
	// What run and create were given (the labels over the image's, its
	// stop signal unless --stop-signal, its ports and --expose's).
	for k, v := range sb.Labels {
		c.Labels[k] = v
	}
	if sb.StopSignal != "" {
		c.StopSignal = sb.StopSignal
	}
	c.StopTimeout = sb.StopTimeout
	for _, p := range sb.ExposedPorts {
		if pt, err := network.ParsePort(p); err == nil {
			c.ExposedPorts[pt] = struct{}{}
		}
	}
	for p := range portMap(sb.Ports, false) {
		c.ExposedPorts[p] = struct{}{}
	}
	return c
}

// networkMode is docker's HostConfig.NetworkMode: a member's first
// network's name, container:ID, or the mode.
func networkMode(sb *sandbox.Sandbox) container.NetworkMode {
	switch {
	case len(sb.Network.Networks) > 0:
		return container.NetworkMode(sb.Network.Networks[0].Name)
	case sb.Network.Container != "":
		return container.NetworkMode("container:" + sb.Network.Container)
	}
	return container.NetworkMode(sb.Network.Mode)
}

func hostConfig(sb *sandbox.Sandbox) *container.HostConfig {
	s := sb.Spec
	l := sb.Limits
	h := &container.HostConfig{
		NetworkMode:    networkMode(sb),
		PortBindings:   portMap(sb.Ports, false),
		AutoRemove:     sb.AutoRemove,
		Privileged:     s.Privileged,
		ReadonlyRootfs: s.ReadOnly,
		SecurityOpt:    SecurityOpt(s),
		LogConfig:      container.LogConfig{Type: sandbox.LogK8sFile, Config: map[string]string{}},
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		MaskedPaths:    nonNil(s.MaskedPaths),
		ReadonlyPaths:  nonNil(s.ReadonlyPaths),
		CgroupnsMode:   container.CgroupnsModePrivate,
		IpcMode:        "private",
		PidMode:        "private",
		UTSMode:        "private",
	}
	if sb.LogDriver != "" {
		h.LogConfig.Type = sb.LogDriver
	}
	if sb.LogMaxSize > 0 {
		h.LogConfig.Config["max-size"] = strconv.FormatInt(sb.LogMaxSize, 10)
	}
	if sb.RestartPolicy != "" {
		h.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyMode(sb.RestartPolicy), MaximumRetryCount: sb.RestartMax}
	}
	if h.NetworkMode == "" {
		h.NetworkMode = container.NetworkMode(s.Network)
	}
	h.ExtraHosts, h.DNSSearch, h.DNSOptions = sb.ExtraHosts, sb.DNSSearch, sb.DNSOptions
	if !s.UserNS {
		h.UsernsMode = "host"
	}
	h.CapAdd, h.CapDrop = capDiff(s.Capabilities)
	h.Memory, h.MemorySwap = l.Memory, l.MemorySwap
	h.CPUQuota, h.CPUPeriod = l.CPUQuota, l.CPUPeriod
	if l.CPUQuota > 0 {
		h.NanoCPUs = l.CPUQuota * 1e9 / max(l.CPUPeriod, 1)
	}
	h.CPUShares = l.CPUWeight // cpu.weight; docker's --cpu-shares is converted to it at create
	h.CpusetCpus = l.CpusetCpus
	if l.PidsLimit != 0 {
		pl := l.PidsLimit
		h.PidsLimit = &pl
	}
	for _, m := range sandbox.Volumes(&s) {
		switch m.Type {
		case "bind":
			b := m.Source + ":" + m.Destination
			if m.ReadOnly {
				b += ":ro"
			}
			h.Binds = append(h.Binds, b)
		case "tmpfs":
			if h.Tmpfs == nil {
				h.Tmpfs = map[string]string{}
			}
			h.Tmpfs[m.Destination] = m.Options
		}
	}
	h.Binds = nonNil(h.Binds)
	return h
}

// health is the health check's record as docker's State.Health.
func health(h *sandbox.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := &container.Health{Status: container.HealthStatus(h.Status), FailingStreak: h.FailingStreak, Log: []*container.HealthcheckResult{}}
	for _, r := range h.Log {
		out.Log = append(out.Log, &container.HealthcheckResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
	}
	return out
}

// capDiff is the capability set as docker's CapAdd and CapDrop: what it
// has beyond docker's default set and what of that set it lacks.
func capDiff(have []string) (add, drop []string) {
	for _, c := range have {
		if !slices.Contains(caps.Default, c) {
			add = append(add, c)
		}
	}
	for _, c := range caps.Default {
		if !slices.Contains(have, c) {
			drop = append(drop, c)
		}
	}
	return nonNil(add), nonNil(drop)
}

// SecurityOpt is the sandbox's security options as docker shows them: the
// seccomp profile in effect ("default" is docker's) and no-new-privileges.
func SecurityOpt(s spec.Spec) []string {
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

func mountPoint(m spec.Mount) container.MountPoint {
	mp := container.MountPoint{Type: mount.Type(m.Type), Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly}
	if m.Type == "bind" {
		mp.Propagation = mount.PropagationRPrivate
		if m.ReadOnly {
			mp.Mode = "ro"
		}
	} else {
		mp.Mode = m.Options
	}
	if m.Type == "volume" {
		mp.Name, mp.Driver = m.Name, "local"
	}
	return mp
}

// portMap is the published ports as docker's PortMap. In
// NetworkSettings (bound) an address that was not given shows as
// 0.0.0.0, where the port listens; in HostConfig it stays as given.
func portMap(ports []unet.Port, bound bool) network.PortMap {
	pm := network.PortMap{}
	for _, p := range ports {
		key, err := network.ParsePort(strconv.Itoa(p.Container) + "/" + p.Proto)
		if err != nil {
			continue
		}
		b := network.PortBinding{HostPort: strconv.Itoa(p.HostPort)}
		if a, err := netip.ParseAddr(p.HostIP); err == nil {
			b.HostIP = a
		} else if bound {
			b.HostIP = netip.IPv4Unspecified()
		}
		if p.HostPort == 0 && !bound {
			b.HostPort = ""
		}
		pm[key] = append(pm[key], b)
	}
	return pm
}

// Image is im as docker's image inspect shows it.
func Image(im *index.Image) image.InspectResponse {
	ic := im.Config
	out := image.InspectResponse{
		ID:          "sha256:" + im.ID,
		RepoTags:    nonNil(im.Names),
		RepoDigests: im.RepoDigests(),
		Created:     Time(im.Created),
		Config: &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
			User: ic.User, Env: ic.Env, Entrypoint: ic.Entrypoint, Cmd: ic.Cmd, WorkingDir: ic.WorkingDir,
			StopSignal: ic.StopSignal, Labels: ic.Labels, ExposedPorts: ic.ExposedPorts, Volumes: ic.Volumes,
		}},
		Architecture: im.Architecture,
		Os:           im.OS,
		Size:         im.Size,
		RootFS:       image.RootFS{Type: "layers", Layers: nonNil(im.DiffIDs)},
	}
	out.GraphDriver = &storage.DriverData{Name: "overlay", Data: map[string]string{}}
	return out
}

// nonNil is s, or an empty slice for nil: docker prints [] where a list
// is empty.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
