package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"usandbox/sandbox/seccomp"
	"usandbox/sandbox/spec"
	"usandbox/storage/index"
)

// SeccompDefault names docker's default profile in a sandbox's spec.
const SeccompDefault = "default"

// SeccompOption is a --security-opt seccomp= value: a profile name
// (SeccompDefault, spec.SeccompUnconfined, or the file's path) and, for a
// file, its JSON, which the record keeps.
type SeccompOption struct {
	Name string
	JSON []byte
}

// ReadSeccompOption reads --security-opt seccomp=VALUE: "unconfined",
// "builtin" (docker's default), or a docker-format JSON profile, which is
// read and checked now (a bad file fails before anything is created).
func ReadSeccompOption(value string) (*SeccompOption, error) {
	switch value {
	case spec.SeccompUnconfined:
		return &SeccompOption{Name: spec.SeccompUnconfined}, nil
	case "builtin", SeccompDefault:
		return &SeccompOption{Name: SeccompDefault}, nil
	}
	abs, err := filepath.Abs(value)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("--security-opt seccomp: %w", err)
	}
	p, err := seccomp.FromJSON(abs, data)
	if err != nil {
		return nil, fmt.Errorf("--security-opt seccomp: %w", err)
	}
	// Compile once now, so that a profile libseccomp refuses fails here.
	if _, err := seccomp.Compile(p, nil); err != nil {
		return nil, fmt.Errorf("--security-opt seccomp: %w", err)
	}
	return &SeccompOption{Name: abs, JSON: data}, nil
}

// profile is the sandbox's seccomp profile.
func (sb *Sandbox) profile() (*seccomp.Profile, error) {
	switch name := sb.Spec.SeccompProfile; name {
	case SeccompDefault, "":
		return seccomp.Default(), nil
	case spec.SeccompUnconfined:
		return seccomp.Unconfined(), nil
	default:
		return seccomp.FromJSON(name, sb.SeccompJSON)
	}
}

// seccompFor is the sandbox's compiled filter, for its spec: compiled
// once per profile, capability set and kernel, then read from the cache
// in the run root. nil means unconfined.
func seccompFor(p index.Paths, sb *Sandbox, s *spec.Spec) ([]byte, error) {
	prof, err := sb.profile()
	if err != nil {
		return nil, err
	}
	if prof.IsUnconfined() {
		return nil, nil
	}
	var prog seccomp.Program
	if p.RunRoot != "" {
		prog, err = seccomp.NewCache(filepath.Join(p.RunRoot, "seccomp")).Compile(prof, s.Capabilities)
	} else {
		prog, err = seccomp.Compile(prof, s.Capabilities)
	}
	if err != nil {
		return nil, fmt.Errorf("compiling the seccomp profile: %w", err)
	}
	return prog.MarshalBinary()
}
