package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"

	"usandbox/storage/index"
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
}

// ResolveSources turns what a user typed into the places to try, in order.
// A name without a transport is a registry image: a short name is resolved
// through containers-registries.conf aliases, then its
// unqualified-search registries, else docker.io as docker does.
func ResolveSources(input string, sys *types.SystemContext) ([]Source, error) {
	if input == "" {
		return nil, fmt.Errorf("%w: empty image name", ErrBadReference)
	}
	if prefix, rest, ok := strings.Cut(input, ":"); ok {
		for _, t := range knownTransports {
			if prefix == t {
				return transportSource(input, prefix, rest)
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
	var candidates []reference.Named
	if index.IsShortName(input) {
		candidates, err = shortNameCandidates(input, named, sys)
		if err != nil {
			return nil, err
		}
	} else {
		candidates = []reference.Named{reference.TagNameOnly(named)}
	}
	var out []Source
	for _, c := range candidates {
		ref, err := alltransports.ParseImageName("docker://" + c.String())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadReference, err)
		}
		out = append(out, Source{Ref: ref, Name: c.String()})
	}
	return out, nil
}

func shortNameCandidates(input string, named reference.Named, sys *types.SystemContext) ([]reference.Named, error) {
	tagged, isTagged := named.(reference.NamedTagged)
	digested, isDigested := named.(reference.Digested)
	// Aliases and search registries are keyed by the repository as typed.
	repo := strings.SplitN(strings.SplitN(input, "@", 2)[0], ":", 2)[0]
	withSuffix := func(n reference.Named) (reference.Named, error) {
		var err error
		if isTagged {
			n, err = reference.WithTag(n, tagged.Tag())
		} else if isDigested {
			n, err = reference.WithDigest(n, digested.Digest())
		} else {
			n = reference.TagNameOnly(n)
		}
		return n, err
	}
	alias, _, err := sysregistriesv2.ResolveShortNameAlias(sys, repo)
	if err != nil {
		return nil, fmt.Errorf("reading registries.conf: %w", err)
	}
	if alias != nil {
		n, err := withSuffix(alias)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadReference, err)
		}
		return []reference.Named{n}, nil
	}
	search, err := sysregistriesv2.UnqualifiedSearchRegistries(sys)
	if err != nil {
		return nil, fmt.Errorf("reading registries.conf: %w", err)
	}
	var out []reference.Named
	for _, reg := range search {
		n, err := reference.ParseNormalizedNamed(reg + "/" + repo)
		if err != nil {
			continue
		}
		if n, err = withSuffix(n); err == nil {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		// Docker's rule: a short name lives on Docker Hub.
		out = append(out, reference.TagNameOnly(named))
	}
	return out, nil
}

// transportSource handles "oci:…", "docker://…" and the other transports.
func transportSource(input, transport, rest string) ([]Source, error) {
	ref, err := alltransports.ParseImageName(input)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadReference, input, err)
	}
	src := Source{Ref: ref}
	if dr := ref.DockerReference(); dr != nil {
		src.Name = reference.TagNameOnly(dr).String()
	}
	if src.Name == "" {
		src.Name = localName(transport, rest)
	}
	return []Source{src}, nil
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
