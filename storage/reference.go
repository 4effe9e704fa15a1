package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/shortnames"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
)

// ErrBadReference is wrapped by every error about a malformed reference or
// an unknown transport.
var ErrBadReference = errors.New("bad image reference")

// Transports usandbox pulls from, by prefix.
var knownTransports = []string{"docker", "oci", "oci-archive", "docker-archive", "dir"}

var transportWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// Source is one place to pull an image from, and the names it gets.
type Source struct {
	Ref types.ImageReference
	// Name is the name the image gets in the store ("" for none).
	Name string
	// candidate is the short-name resolution's, for Record.
	candidate *shortnames.PullCandidate
}

// Record, called once the source was pulled, keeps a short name's
// candidate that the user picked at the prompt as an alias, in the
// user's short-name-aliases.conf (podman's: the next pull of the name,
// with either tool, asks no more). Other sources record nothing.
func (s Source) Record() error {
	if s.candidate == nil {
		return nil
	}
	return s.candidate.Record()
}

// Resolution is where a name the user typed is to be pulled from.
type Resolution struct {
	// Sources are the places to try, in order; the first that has the
	// image wins.
	Sources []Source
	// Description says how registries.conf resolved a short name (an
	// alias, or the unqualified-search registries, and which files said
	// so), as podman prints it before pulling; "" for other names.
	Description string
}

// ResolveSources turns what a user typed into the places to try, in order.
// A name without a transport is a registry image. A short name is resolved
// as podman resolves it (package shortnames): a containers-registries.conf
// alias, else the unqualified-search registries, obeying short-name-mode
// (on a terminal, a choice between several registries is asked for;
// without one they are tried in order, unless the mode is enforcing).
// Where registries.conf has neither alias nor search registries for the
// name, it is on Docker Hub, as docker has it.
func ResolveSources(input string, sys *types.SystemContext) (*Resolution, error) {
	if input == "" {
		return nil, fmt.Errorf("%w: empty image name", ErrBadReference)
	}
	if prefix, rest, ok := strings.Cut(input, ":"); ok {
		for _, t := range knownTransports {
			if prefix == t {
				src, err := transportSource(input, prefix, rest)
				if err != nil {
					return nil, err
				}
				return &Resolution{Sources: []Source{src}}, nil
			}
		}
	}
	named, err := reference.ParseNormalizedNamed(input)
	if err != nil {
		if prefix, rest, ok := strings.Cut(input, ":"); ok && transportWord.MatchString(prefix) &&
			(strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, ".")) {
			return nil, fmt.Errorf("%w: unknown transport %q in %q (use docker://, oci:, oci-archive:, docker-archive: or dir:)", ErrBadReference, prefix, input)
		}
		return nil, fmt.Errorf("%w: %q is not a valid image reference (%v)", ErrBadReference, input, err)
	}
	if !shortnames.IsShortName(input) {
		src, err := registrySource(reference.TagNameOnly(named))
		if err != nil {
			return nil, err
		}
		return &Resolution{Sources: []Source{src}}, nil
	}
	return resolveShortName(input, sys)
}

func resolveShortName(input string, sys *types.SystemContext) (*Resolution, error) {
	var c types.SystemContext
	if sys != nil {
		c = *sys
	}
	hub, err := dockerHubOnly(input, &c)
	if err != nil {
		return nil, err
	}
	// Podman refuses such a name; docker's rule serves it.
	c.PodmanOnlyShortNamesIgnoreRegistriesConfAndForceDockerHub = hub
	resolved, err := shortnames.Resolve(&c, input)
	if err != nil {
		return nil, fmt.Errorf("resolving the short name %q with registries.conf: %w (or give the full name, with its registry)", input, err)
	}
	r := &Resolution{}
	if !hub {
		r.Description = resolved.Description()
	}
	for i := range resolved.PullCandidates {
		src, err := registrySource(resolved.PullCandidates[i].Value)
		if err != nil {
			return nil, err
		}
		src.candidate = &resolved.PullCandidates[i]
		r.Sources = append(r.Sources, src)
	}
	return r, nil
}

// dockerHubOnly reports whether registries.conf has nothing to say about
// the short name: no alias (the key is the name without tag or digest, as
// package shortnames looks it up) and no unqualified-search registries.
func dockerHubOnly(input string, sys *types.SystemContext) (bool, error) {
	ref, err := reference.Parse(input)
	if err != nil {
		return false, fmt.Errorf("%w: %q is not a valid image reference (%v)", ErrBadReference, input, err)
	}
	named, ok := ref.(reference.Named)
	if !ok {
		return false, fmt.Errorf("%w: %q has no name", ErrBadReference, input)
	}
	alias, _, err := sysregistriesv2.ResolveShortNameAlias(sys, reference.TrimNamed(named).String())
	if err != nil {
		return false, fmt.Errorf("reading registries.conf: %w", err)
	}
	if alias != nil {
		return false, nil
	}
	search, err := sysregistriesv2.UnqualifiedSearchRegistries(sys)
	if err != nil {
		return false, fmt.Errorf("reading registries.conf: %w", err)
	}
	return len(search) == 0, nil
}

// registrySource is the docker:// source of a fully qualified name.
func registrySource(n reference.Named) (Source, error) {
	ref, err := alltransports.ParseImageName("docker://" + n.String())
	if err != nil {
		return Source{}, fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	return Source{Ref: ref, Name: n.String()}, nil
}

// transportSource handles "oci:…", "docker://…" and the other transports.
func transportSource(input, transport, rest string) (Source, error) {
	ref, err := alltransports.ParseImageName(input)
	if err != nil {
		return Source{}, fmt.Errorf("%w: %q: %v", ErrBadReference, input, err)
	}
	src := Source{Ref: ref}
	if dr := ref.DockerReference(); dr != nil {
		src.Name = reference.TagNameOnly(dr).String()
	}
	if src.Name == "" {
		src.Name = localName(transport, rest)
	}
	return src, nil
}

// localName names an image from a layout, archive or directory as podman
// does: "localhost/NAME:TAG", NAME from the reference in the layout if it
// is a name, else from the file name.
func localName(transport, rest string) string {
	path, ref := rest, ""
	if transport == "oci" || transport == "oci-archive" {
		// PATH[:REF]; REF may itself contain ':' (name:tag).
		if i := strings.Index(rest, ":"); i >= 0 {
			path, ref = rest[:i], rest[i+1:]
		}
	}
	base := strings.TrimSuffix(filepath.Base(filepath.Clean(path)), filepath.Ext(path))
	tag := "latest"
	if ref != "" {
		if n, err := reference.ParseNormalizedNamed(ref); err == nil && strings.Contains(ref, ":") {
			if t, ok := n.(reference.NamedTagged); ok {
				base, tag = reference.Path(n), t.Tag()
				base = strings.TrimPrefix(base, "library/")
			}
		} else if regexp.MustCompile(`^[\w][\w.-]{0,127}$`).MatchString(ref) {
			tag = ref
		}
	}
	n, err := reference.ParseNormalizedNamed("localhost/" + strings.ToLower(base) + ":" + tag)
	if err != nil {
		return ""
	}
	return n.String()
}
