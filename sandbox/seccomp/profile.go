package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	mseccomp "github.com/moby/profiles/seccomp"
)

// Profile is a docker-format seccomp profile, or no profile at all
// (unconfined). Its capability, architecture and kernel conditions are
// resolved by [Compile], so one Profile serves any capability set.
type Profile struct {
	// name says where the profile came from, for error messages.
	name string
	// config is nil for unconfined.
	config *mseccomp.Seccomp
	// builtin: docker's default, which the module version determines
	// (the cache key need not hash its JSON on every start).
	builtin bool
}

// Default returns docker's default profile, as shipped by
// github.com/moby/profiles/seccomp.
func Default() *Profile {
	return &Profile{name: "docker's default seccomp profile", config: mseccomp.DefaultProfile(), builtin: true}
}

// Unconfined returns the absence of a profile: [Compile] gives an empty
// [Program] and [Load] of it installs nothing (docker's
// --security-opt seccomp=unconfined).
func Unconfined() *Profile {
	return &Profile{name: "unconfined"}
}

// FromOption returns the profile named by the value of docker's
// --security-opt seccomp=VALUE: "unconfined", "builtin" (docker's
// default), or the path of a docker-format JSON file.
func FromOption(value string) (*Profile, error) {
	switch value {
	case "unconfined":
		return Unconfined(), nil
	case "builtin":
		return Default(), nil
	case "":
		return nil, errors.New("seccomp: empty profile: give unconfined, builtin or the path of a JSON profile")
	}
	return FromFile(value)
}

// FromFile reads a docker-format JSON profile (the format of docker's
// profiles/seccomp/default.json).
func FromFile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp: reading the profile: %w", err)
	}
	return FromJSON(path, data)
}

// FromJSON parses a docker-format JSON profile; name says where it came
// from (a file name) and prefixes errors. Unknown actions, operators or
// architectures are reported by [Compile], which resolves them.
func FromJSON(name string, data []byte) (*Profile, error) {
	var config mseccomp.Seccomp
	if err := json.Unmarshal(data, &config); err != nil {
		return nil, fmt.Errorf("seccomp: profile %s: %w", name, jsonError(data, err))
	}
	if config.DefaultAction == "" {
		// moby's loader reads a profile without a default action and
		// without syscalls as "no seccomp at all"; asking for that by
		// accident would silently unconfine the sandbox.
		return nil, fmt.Errorf("seccomp: profile %s has no defaultAction (for no filter, use seccomp=unconfined)", name)
	}
	return &Profile{name: name, config: &config}, nil
}

// IsUnconfined reports whether p installs no filter.
func (p *Profile) IsUnconfined() bool { return p.config == nil }

// String says where the profile came from.
func (p *Profile) String() string { return p.name }

// canonicalJSON is the profile as JSON, for the cache key.
func (p *Profile) canonicalJSON() ([]byte, error) {
	if p.config == nil {
		return []byte("null"), nil
	}
	if p.builtin {
		// The key also holds moby/profiles' module version, which fixes
		// this profile; marshalling it costs a third of a millisecond
		// per start.
		return []byte("builtin: docker's default"), nil
	}
	return json.Marshal(p.config)
}

// jsonError adds the line and column to a JSON decoding error.
func jsonError(data []byte, err error) error {
	var offset int64
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	default:
		return err
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}
