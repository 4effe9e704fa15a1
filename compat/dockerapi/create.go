package dockerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"usandbox/lifecycle"
	"usandbox/sandbox"
)

// createOptions turns a container create request into the options of the
// same sandbox on the command line: every field is read with the parser
// of its flag. A field usandbox cannot honour is refused (docker's 400),
// never dropped.
func createOptions(name string, req *container.CreateRequest) (lifecycle.CreateOptions, error) {
	var o lifecycle.CreateOptions
	cfg, hc := req.Config, req.HostConfig
	if cfg == nil {
		cfg = &container.Config{}
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if cfg.Image == "" {
		return o, errors.New("config of the container: no image given")
	}
	if err := refuseConfig(cfg, hc); err != nil {
		return o, err
	}
	o.Name, o.ImageRef, o.Args = name, cfg.Image, cfg.Cmd
	o.Workdir, o.User, o.Hostname = cfg.WorkingDir, cfg.User, cfg.Hostname
	o.TTY, o.AutoRemove, o.Detached = cfg.Tty, hc.AutoRemove, true
	o.OpenStdin, o.StdinOnce = cfg.OpenStdin, cfg.OpenStdin && cfg.StdinOnce
	if cfg.Entrypoint != nil {
		b, _ := json.Marshal([]string(cfg.Entrypoint))
		ep := string(b)
		o.Entrypoint = &ep
	}
	var err error
	// The client has put its own environment in already: a bare KEY is
	// one it did not have, and is left out, as docker does.
	if o.Env, err = sandbox.ParseEnv(cfg.Env, func(string) (string, bool) { return "", false }); err != nil {
		return o, err
	}
	o.Labels = cfg.Labels
	if cfg.StopSignal != "" {
		sig, err := lifecycle.ParseSignal(cfg.StopSignal)
		if err != nil {
			return o, fmt.Errorf("invalid StopSignal %q", cfg.StopSignal)
		}
		o.StopSignal = lifecycle.SignalName(sig)
	}
	o.StopTimeout = cfg.StopTimeout
	for p := range cfg.ExposedPorts {
		ports, err := lifecycle.ParseExpose(p.String())
		if err != nil {
			return o, err
		}
		o.ExposedPorts = append(o.ExposedPorts, ports...)
	}
	sort.Strings(o.ExposedPorts)
	if o.Healthcheck, err = healthcheck(cfg.Healthcheck); err != nil {
		return o, err
	}
	if err := hostOptions(&o, cfg, hc, req); err != nil {
		return o, err
	}
	// Config.Volumes are anonymous volumes, but for the paths a bind,
	// mount or tmpfs already takes (docker compose names both), as
	// docker has them.
	taken := map[string]bool{}
	for _, m := range o.Volumes {
		taken[m.Destination] = true
	}
	anon := make([]string, 0, len(cfg.Volumes))
	for path := range cfg.Volumes {
		anon = append(anon, path)
	}
	sort.Strings(anon)
	for _, path := range anon {
		m, err := sandbox.ParseVolume(path)
		if err != nil {
			return o, err
		}
		if !taken[m.Destination] {
			o.Volumes = append(o.Volumes, m)
		}
	}
	return o, nil
}

// refuseConfig names the first field set that usandbox does not do.
func refuseConfig(cfg *container.Config, hc *container.HostConfig) error {
	r := hc.Resources
	for _, f := range []struct {
		set  bool
		what string
	}{
		{cfg.Domainname != "", "Domainname"},
		{cfg.NetworkDisabled && hc.NetworkMode != "" && hc.NetworkMode != "none" && hc.NetworkMode != "default", "NetworkDisabled with a NetworkMode"},
		{len(cfg.OnBuild) > 0, "OnBuild"},
		{hc.VolumeDriver != "" && hc.VolumeDriver != "local", "VolumeDriver " + hc.VolumeDriver},
		{len(hc.Links) > 0, "Links (use a network: its members reach each other by name)"},
		{hc.CgroupnsMode != "" && hc.CgroupnsMode != "private", "CgroupnsMode " + string(hc.CgroupnsMode)},
		{hc.IpcMode != "" && hc.IpcMode != "private" && hc.IpcMode != "shareable", "IpcMode " + string(hc.IpcMode)},
		{hc.PidMode != "" && hc.PidMode != "private", "PidMode " + string(hc.PidMode)},
		{hc.UTSMode != "" && hc.UTSMode != "private", "UTSMode " + string(hc.UTSMode)},
		{hc.Cgroup != "", "Cgroup"},
		{hc.OomScoreAdj != 0, "OomScoreAdj"},
		{len(hc.StorageOpt) > 0, "StorageOpt"},
		{len(hc.Sysctls) > 0, "Sysctls"},
		{hc.Runtime != "" && hc.Runtime != "usandbox" && hc.Runtime != "runc", "Runtime " + hc.Runtime},
		{len(hc.MaskedPaths) > 0 || len(hc.ReadonlyPaths) > 0, "MaskedPaths and ReadonlyPaths"},
		{len(hc.Annotations) > 0, "Annotations"},
		{hc.Init != nil && !*hc.Init, "Init false (usandbox's init is always pid 1)"},
		{r.CgroupParent != "", "CgroupParent"},
		{r.BlkioWeight != 0 || len(r.BlkioWeightDevice)+len(r.BlkioDeviceReadBps)+len(r.BlkioDeviceWriteBps)+len(r.BlkioDeviceReadIOps)+len(r.BlkioDeviceWriteIOps) > 0, "Blkio limits"},
		{r.CPUPeriod != 0 || r.CPUQuota != 0, "CpuPeriod and CpuQuota (give NanoCpus)"},
		{r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0, "CPU real-time limits"},
		{r.CpusetMems != "", "CpusetMems"},
		{len(r.DeviceCgroupRules) > 0 || len(r.DeviceRequests) > 0, "DeviceCgroupRules and DeviceRequests"},
		{r.MemoryReservation != 0, "MemoryReservation"},
		{r.MemorySwappiness != nil && *r.MemorySwappiness != -1, "MemorySwappiness"},
		{r.OomKillDisable != nil && *r.OomKillDisable, "OomKillDisable"},
		{r.CPUCount != 0 || r.CPUPercent != 0 || r.IOMaximumIOps != 0 || r.IOMaximumBandwidth != 0, "Windows resource limits"},
	} {
		if f.set {
			return fmt.Errorf("usandbox does not support %s", f.what)
		}
	}
	return nil
}

// hostOptions reads the HostConfig (and the NetworkingConfig) into o.
func hostOptions(o *lifecycle.CreateOptions, cfg *container.Config, hc *container.HostConfig, req *container.CreateRequest) error {
	var err error
	for _, b := range hc.Binds {
		m, err := sandbox.ParseVolume(b)
		if err != nil {
			return err
		}
		o.Volumes = append(o.Volumes, m)
	}
	for _, m := range hc.Mounts {
		s, err := mountFlag(m)
		if err != nil {
			return err
		}
		sm, err := sandbox.ParseMount(s)
		if err != nil {
			return err
		}
		o.Volumes = append(o.Volumes, sm)
	}
	tmpfs := make([]string, 0, len(hc.Tmpfs))
	for path, opts := range hc.Tmpfs {
		if opts != "" {
			path += ":" + opts
		}
		tmpfs = append(tmpfs, path)
	}
	sort.Strings(tmpfs)
	for _, t := range tmpfs {
		m, err := sandbox.ParseTmpfs(t)
		if err != nil {
			return err
		}
		o.Volumes = append(o.Volumes, m)
	}
	for _, v := range hc.VolumesFrom {
		ref, mode, err := sandbox.ParseVolumesFrom(v)
		if err != nil {
			return err
		}
		o.VolumesFrom = append(o.VolumesFrom, sandbox.VolumesFrom{Ref: ref, Mode: mode})
	}
	if o.LogDriver, o.LogMaxSize, err = logConfig(hc.LogConfig); err != nil {
		return err
	}
	restart := string(hc.RestartPolicy.Name)
	if restart == "on-failure" && hc.RestartPolicy.MaximumRetryCount > 0 {
		restart += ":" + strconv.Itoa(hc.RestartPolicy.MaximumRetryCount)
	}
	if o.RestartPolicy, o.RestartMax, err = lifecycle.ParseRestart(restart, o.AutoRemove); err != nil {
		return err
	}
	if err := networkOptions(o, cfg, hc, req); err != nil {
		return err
	}
	for _, ip := range hc.DNS {
		d, err := lifecycle.ParseDNS(ip.String())
		if err != nil {
			return err
		}
		o.DNS = append(o.DNS, d)
	}
	o.DNSSearch, o.DNSOptions = hc.DNSSearch, hc.DNSOptions
	for _, h := range hc.ExtraHosts {
		entry, err := lifecycle.ParseAddHost(h)
		if err != nil {
			return err
		}
		o.ExtraHosts = append(o.ExtraHosts, entry)
	}
	o.CapAdd, o.CapDrop, o.Privileged = hc.CapAdd, hc.CapDrop, hc.Privileged
	o.ReadOnly = hc.ReadonlyRootfs
	o.ReadOnlyTmpfs = o.ReadOnly
	for _, so := range hc.SecurityOpt {
		key, value, _ := strings.Cut(so, "=")
		if k, v, ok := strings.Cut(so, ":"); ok && !strings.Contains(k, "=") {
			key, value = k, v
		}
		switch {
		case key == "no-new-privileges" && (value == "" || value == "true"):
			o.NoNewPrivileges = true
		case key == "no-new-privileges" && value == "false":
		case key == "seccomp" && value == "unconfined":
			if o.Seccomp, err = sandbox.ReadSeccompOption(value); err != nil {
				return err
			}
		default:
			// A profile file would be the service's, not the client's.
			return fmt.Errorf("usandbox does not support SecurityOpt %q (it knows no-new-privileges and seccomp=unconfined)", so)
		}
	}
	if o.IDs, err = lifecycle.ParseUserNS(string(hc.UsernsMode)); err != nil {
		return err
	}
	if o.Limits, err = lifecycle.ParseLimits(limitFlags(hc.Resources)); err != nil {
		return err
	}
	p := &o.Process
	p.GroupAdd = hc.GroupAdd
	for _, u := range hc.Ulimits {
		rl, err := sandbox.ParseUlimit(u.String())
		if err != nil {
			return err
		}
		p.Ulimits = append(p.Ulimits, rl)
	}
	if hc.ShmSize > 0 {
		n := hc.ShmSize
		p.ShmSize = &n
	}
	for _, d := range hc.Devices {
		s := d.PathOnHost
		if d.PathInContainer != "" {
			s += ":" + d.PathInContainer
		}
		if d.CgroupPermissions != "" {
			s += ":" + d.CgroupPermissions
		}
		dev, err := sandbox.ParseDevice(s)
		if err != nil {
			return err
		}
		p.Devices = append(p.Devices, dev)
	}
	return nil
}

// networkOptions reads NetworkMode, the endpoints' aliases and the port
// bindings as run's --network, --network-alias and -p.
func networkOptions(o *lifecycle.CreateOptions, cfg *container.Config, hc *container.HostConfig, req *container.CreateRequest) error {
	mode := string(hc.NetworkMode)
	switch {
	case cfg.NetworkDisabled:
		mode = "none"
	case mode == "" || mode == "default":
		mode = lifecycle.DefaultNetwork()
	}
	nets := []string{mode}
	var aliases []string
	if req.NetworkingConfig != nil {
		names := make([]string, 0, len(req.NetworkingConfig.EndpointsConfig))
		for n := range req.NetworkingConfig.EndpointsConfig {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ep := req.NetworkingConfig.EndpointsConfig[n]
			if n != mode && !(mode == lifecycle.DefaultNetwork() && n == "bridge") {
				nets = append(nets, n)
			}
			if ep == nil {
				continue
			}
			if ep.IPAMConfig != nil && (ep.IPAMConfig.IPv4Address.IsValid() || ep.IPAMConfig.IPv6Address.IsValid()) {
				return errors.New("usandbox does not support a fixed address on a network (EndpointsConfig.IPAMConfig)")
			}
			if len(ep.Links) > 0 {
				return errors.New("usandbox does not support Links (its network members reach each other by name)")
			}
			aliases = append(aliases, ep.Aliases...)
		}
	}
	var err error
	if o.Network, err = lifecycle.ParseNetworks(nets, aliases); err != nil {
		return err
	}
	o.NetworkRaw = strings.Join(nets, ",")
	var ports []string
	for port, binds := range hc.PortBindings {
		if len(binds) == 0 {
			ports = append(ports, port.String()) // a free host port
		}
		for _, b := range binds {
			hostPort := b.HostPort
			if hostPort == "0" {
				hostPort = "" // docker's "any free port" (testcontainers sends it)
			}
			s := hostPort + ":" + port.String()
			if b.HostIP.IsValid() {
				s = b.HostIP.String() + ":" + s
			} else if hostPort == "" {
				s = port.String()
			}
			ports = append(ports, s)
		}
	}
	sort.Strings(ports)
	for _, s := range ports {
		p, err := lifecycle.ParsePort(s)
		if err != nil {
			return err
		}
		o.Ports = append(o.Ports, p)
	}
	o.PublishAll = hc.PublishAllPorts
	return nil
}

// mountFlag writes an API mount as run's --mount value.
func mountFlag(m mount.Mount) (string, error) {
	if m.Target == "" {
		return "", errors.New("invalid mount: no Target")
	}
	parts := []string{"type=" + string(m.Type)}
	if m.Source != "" {
		parts = append(parts, "source="+m.Source)
	}
	parts = append(parts, "target="+m.Target)
	if m.ReadOnly {
		parts = append(parts, "readonly")
	}
	switch m.Type {
	case mount.TypeBind:
		if o := m.BindOptions; o != nil {
			if o.Propagation != "" {
				parts = append(parts, "bind-propagation="+string(o.Propagation))
			}
			if o.NonRecursive || o.CreateMountpoint || o.ReadOnlyNonRecursive || o.ReadOnlyForceRecursive {
				return "", errors.New("usandbox does not support these BindOptions (NonRecursive, CreateMountpoint, ReadOnlyNonRecursive, ReadOnlyForceRecursive)")
			}
		}
	case mount.TypeVolume:
		if o := m.VolumeOptions; o != nil {
			if o.NoCopy {
				parts = append(parts, "volume-nocopy")
			}
			if len(o.Labels) > 0 || o.Subpath != "" || (o.DriverConfig != nil && o.DriverConfig.Name != "" && o.DriverConfig.Name != "local") {
				return "", errors.New("usandbox does not support VolumeOptions Labels, Subpath or a DriverConfig")
			}
		}
	case mount.TypeTmpfs:
		if o := m.TmpfsOptions; o != nil {
			if o.SizeBytes > 0 {
				parts = append(parts, "tmpfs-size="+strconv.FormatInt(o.SizeBytes, 10))
			}
			if o.Mode != 0 {
				parts = append(parts, "tmpfs-mode="+strconv.FormatUint(uint64(o.Mode.Perm()), 8))
			}
			if len(o.Options) > 0 {
				return "", errors.New("usandbox does not support TmpfsOptions.Options")
			}
		}
	default:
		return "", fmt.Errorf("usandbox does not support mounts of type %q (bind, volume and tmpfs)", m.Type)
	}
	if m.Consistency != "" && m.Consistency != mount.ConsistencyDefault {
		return "", fmt.Errorf("usandbox does not support mount Consistency %q", m.Consistency)
	}
	return strings.Join(parts, ","), nil
}

// logConfig reads docker's LogConfig: json-file (docker's default) and
// k8s-file both write the sandbox's log, which docker logs reads.
func logConfig(c container.LogConfig) (string, int64, error) {
	driver := c.Type
	if driver == "json-file" || driver == "local" {
		driver = sandbox.LogK8sFile
	}
	var opts []string
	for k, v := range c.Config {
		if k != "max-size" {
			return "", 0, fmt.Errorf("usandbox does not support the log option %q (it knows max-size)", k)
		}
		opts = append(opts, k+"="+v)
	}
	return lifecycle.ParseLog(driver, opts)
}

// limitFlags are the resources as run's flags.
func limitFlags(r container.Resources) lifecycle.LimitFlags {
	var f lifecycle.LimitFlags
	if r.Memory > 0 {
		f.Memory = strconv.FormatInt(r.Memory, 10)
	}
	if r.MemorySwap != 0 {
		f.MemorySwap = strconv.FormatInt(r.MemorySwap, 10)
	}
	if r.NanoCPUs > 0 {
		f.CPUs = strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64)
	}
	f.CpusetCpus = r.CpusetCpus
	if r.CPUShares > 0 {
		n := r.CPUShares
		f.CPUShares = &n
	}
	if r.PidsLimit != nil && *r.PidsLimit != 0 {
		f.PidsLimit = r.PidsLimit
	}
	return f
}

// healthcheck reads the API's health check as run's --health-* flags.
func healthcheck(h *container.HealthConfig) (*lifecycle.HealthConfig, error) {
	if h == nil || len(h.Test) == 0 {
		return nil, nil
	}
	var f lifecycle.HealthFlags
	switch h.Test[0] {
	case "NONE":
		f.None = true
		return lifecycle.ParseHealth(f)
	case "CMD", "CMD-SHELL":
		b, _ := json.Marshal(h.Test)
		f.Cmd = string(b)
	default:
		return nil, fmt.Errorf("invalid Healthcheck.Test %q: it starts with NONE, CMD or CMD-SHELL", h.Test[0])
	}
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	f.Interval, f.Timeout, f.StartPeriod = dur(h.Interval), dur(h.Timeout), dur(h.StartPeriod)
	if h.Retries > 0 {
		n := int64(h.Retries)
		f.Retries = &n
	}
	if h.StartInterval != 0 {
		return nil, errors.New("usandbox does not support Healthcheck.StartInterval")
	}
	return lifecycle.ParseHealth(f)
}
