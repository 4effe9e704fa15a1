//go:build seccomp && cgo

package seccomp

import (
	"encoding/json"
	"fmt"
	"strings"

	mseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runc/libcontainer/configs"
	rseccomp "github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Compile resolves p for a sandbox holding capabilities (names such as
// "SYS_ADMIN" or "CAP_SYS_ADMIN"; docker's default profile allows more
// calls to a sandbox with more capabilities), this machine's architecture
// and its kernel, and returns the filter runc would install: calls the
// profile denies fail as it says (EPERM for docker's default), calls
// newer than the profile fail with ENOSYS. Nothing is installed in the
// calling process. Most of its cost is libseccomp generating the BPF
// (a median of 75-130 ms for docker's default profile on a busy 2-core
// host, against 0.2 ms for a [Cache] hit); see [Cache] for warm starts.
func Compile(p *Profile, capabilities []string) (Program, error) {
	if p.IsUnconfined() {
		return Program{}, nil
	}
	body, err := json.Marshal(p.config)
	if err != nil {
		return Program{}, fmt.Errorf("seccomp: profile %s: %w", p, err)
	}
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: capabilityNames(capabilities),
	}}}
	// moby's loader applies the profile's conditions (capabilities,
	// architecture, minimum kernel) and gives the OCI form.
	oci, err := mseccomp.LoadProfile(string(body), rs)
	if err != nil {
		return Program{}, fmt.Errorf("seccomp: profile %s: %w", p, err)
	}
	return compileOCI(p.String(), oci)
}

// CompileOCI compiles an OCI bundle's seccomp section (linux.seccomp) as
// runc would, for this machine's architecture and kernel; nil compiles to
// an empty Program (unconfined). SCMP_ACT_NOTIFY and a listener are
// refused.
func CompileOCI(oci *specs.LinuxSeccomp) (Program, error) {
	if oci == nil {
		return Program{}, nil
	}
	if oci.ListenerPath != "" || oci.ListenerMetadata != "" {
		return Program{}, fmt.Errorf("seccomp: linux.seccomp.listenerPath is not supported by usandbox-runc")
	}
	return compileOCI("of the bundle", oci)
}

func compileOCI(name string, oci *specs.LinuxSeccomp) (Program, error) {
	// libseccomp probes the kernel once per process and caches the
	// answers; probe here, on an ordinary thread, rather than under the
	// interception filter.
	if _, err := libseccomp.GetAPI(); err != nil {
		return Program{}, fmt.Errorf("seccomp: libseccomp: %w", err)
	}
	// runc's own conversion, so that its defaults (such as
	// SECCOMP_FILTER_FLAG_SPEC_ALLOW when a profile names no flags)
	// are docker's too.
	config, err := specconv.SetupSeccomp(oci)
	if err != nil {
		return Program{}, fmt.Errorf("seccomp: profile %s: %w", name, err)
	}
	if config == nil {
		return Program{}, nil
	}
	if config.DefaultAction == configs.Notify {
		return Program{}, fmt.Errorf("seccomp: profile %s: SCMP_ACT_NOTIFY is not supported", name)
	}
	for _, call := range config.Syscalls {
		if call.Action == configs.Notify {
			return Program{}, fmt.Errorf("seccomp: profile %s: SCMP_ACT_NOTIFY (for %s) is not supported", name, call.Name)
		}
	}
	// The flags only choose how the kernel installs the filter, never
	// the program. Taking them out makes runc install with
	// prctl(PR_SET_SECCOMP), a system call the Go runtime knows the
	// thread is blocked in, instead of a raw seccomp(2) during which a
	// stop-the-world (for the garbage collector) would wait for the
	// thread while the thread waits for the listener.
	flags, err := filterFlags(config.Flags)
	if err != nil {
		return Program{}, fmt.Errorf("seccomp: profile %s: %w", name, err)
	}
	config.Flags = nil
	prog, err := captureFilter(func() error {
		_, err := rseccomp.InitSeccomp(config)
		return err
	})
	if err != nil {
		return Program{}, fmt.Errorf("%w (profile %s)", err, name)
	}
	if prog.Flags != 0 {
		return Program{}, fmt.Errorf("seccomp: runc installed its filter with flags %#x, expected none", prog.Flags)
	}
	prog.Flags = flags
	return prog, nil
}

// filterFlags gives the seccomp(2) flags for a profile's flags (which
// SetupSeccomp has checked the kernel and libseccomp support).
func filterFlags(names []specs.LinuxSeccompFlag) (uint32, error) {
	var flags uint32
	for _, name := range names {
		switch name {
		case specs.LinuxSeccompFlagLog:
			flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
			flags |= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		default:
			return 0, fmt.Errorf("filter flag %s is not supported", name)
		}
	}
	return flags, nil
}

// capabilityNames spells capabilities as the profiles do: CAP_SYS_ADMIN.
func capabilityNames(caps []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(c)
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	return out
}

// compilerVersion names what decides the compiled bytes besides the
// profile, capabilities, architecture and kernel: the libraries.
func compilerVersion() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("libseccomp %d.%d.%d; %s", major, minor, micro, moduleVersions(
		"github.com/opencontainers/runc", "github.com/moby/profiles/seccomp", "github.com/seccomp/libseccomp-golang"))
}
