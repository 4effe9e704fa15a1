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
)

// Compile resolves p for a sandbox holding capabilities (names such as
// "SYS_ADMIN" or "CAP_SYS_ADMIN"; docker's default profile allows more
// calls to a sandbox with more capabilities), this machine's architecture
// and its kernel, and returns the filter runc would install: calls the
// profile denies fail as it says (EPERM for docker's default), calls
// newer than the profile fail with ENOSYS. Nothing is installed in the
// calling process. It costs some milliseconds of libseccomp work; see
// [Cache] for warm starts.
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
		return Program{}, fmt.Errorf("seccomp: profile %s: %w", p, err)
	}
	if config == nil {
		return Program{}, nil
	}
	if config.DefaultAction == configs.Notify {
		return Program{}, fmt.Errorf("seccomp: profile %s: SCMP_ACT_NOTIFY is not supported", p)
	}
	for _, call := range config.Syscalls {
		if call.Action == configs.Notify {
			return Program{}, fmt.Errorf("seccomp: profile %s: SCMP_ACT_NOTIFY (for %s) is not supported", p, call.Name)
		}
	}
	prog, err := captureFilter(func() error {
		_, err := rseccomp.InitSeccomp(config)
		return err
	})
	if err != nil {
		return Program{}, fmt.Errorf("%w (profile %s)", err, p)
	}
	return prog, nil
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
