package storage

import (
	"fmt"
	"strings"

	"go.podman.io/image/v5/docker/reference"

	"usandbox/storage/index"
)

// TagName is the name podman's tag gives: a name without a registry
// goes under localhost/ (not docker.io, as podman), one without a tag
// gets :latest.
func TagName(name string) (string, error) {
	if i := strings.IndexByte(name, '/'); i < 0 || !strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" {
		name = "localhost/" + name
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidName, name, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", fmt.Errorf("%w: %q: a tag cannot have a digest", ErrInvalidName, name)
	}
	return reference.TagNameOnly(named).String(), nil
}

// ErrInvalidName is wrapped when a new name is not a valid image name.
var ErrInvalidName = fmt.Errorf("invalid image name")

// Tag gives the image ref the names (TagName); a name another image had
// moves to this one, as docker's and podman's tags do.
func (s *Store) Tag(ref string, names []string) error {
	im, err := s.Lookup(ref)
	if err != nil {
		return err
	}
	var full []string
	for _, n := range names {
		f, err := TagName(n)
		if err != nil {
			return err
		}
		full = append(full, f)
	}
	if err := s.s.AddNames(im.ID, full); err != nil {
		return fmt.Errorf("storage: tagging %s: %w", im.ID[:12], err)
	}
	return s.WriteIndex()
}

// Untag removes names of the image ref, every name if none are given
// (podman's untag). A name the image does not have is an error, and then
// no name is removed.
func (s *Store) Untag(ref string, names []string) error {
	im, err := s.Lookup(ref)
	if err != nil {
		return err
	}
	drop := im.Names
	if len(names) > 0 {
		drop = nil
		for _, n := range names {
			found := ""
			for _, have := range im.Names {
				if index.NameMatches(have, n) {
					found = have
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%w: %s: image %s has no such name", ErrImageUnknown, n, im.ID[:12])
			}
			drop = append(drop, found)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	if err := s.s.RemoveNames(im.ID, drop); err != nil {
		return fmt.Errorf("storage: untagging %s: %w", im.ID[:12], err)
	}
	return s.WriteIndex()
}

// Prune removes the images no sandbox uses (inUse) that have no name
// (dangling), or, with all, every image no sandbox uses. It returns what
// it removed and the bytes freed (the images' sizes).
func (s *Store) Prune(all bool, inUse func(id string) []string) ([]string, int64, error) {
	return s.PruneMatching(all, nil, inUse)
}

// PruneMatching is Prune of the images match accepts (nil: all).
func (s *Store) PruneMatching(all bool, match func(*Image) bool, inUse func(id string) []string) ([]string, int64, error) {
	ims, err := s.Images()
	if err != nil {
		return nil, 0, err
	}
	var removed []string
	var freed int64
	for _, im := range ims {
		if (!all && len(im.Names) > 0) || (match != nil && !match(im)) || len(inUse(im.ID)) > 0 {
			continue
		}
		if _, err := s.s.DeleteImage(im.ID, true); err != nil {
			return removed, freed, fmt.Errorf("storage: removing image %s: %w", im.ID[:12], err)
		}
		removed = append(removed, im.ID)
		freed += im.Size
	}
	if len(removed) == 0 {
		return nil, 0, nil
	}
	return removed, freed, s.WriteIndex()
}
