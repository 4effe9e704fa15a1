package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	cstorage "go.podman.io/storage"
)

// ErrImageUnknown is wrapped when no image answers to a name or ID.
var ErrImageUnknown = errors.New("no such image")

// ErrAmbiguous is wrapped when an ID prefix matches several images.
var ErrAmbiguous = errors.New("ambiguous image ID prefix")

// ErrImageInUse is wrapped when rmi would remove an image a sandbox uses.
var ErrImageInUse = errors.New("image is in use")

// Image is a stored image.
type Image struct {
	ID      string    `json:"Id"`
	Names   []string  `json:"Names"`
	Digest  string    `json:"Digest"`
	Created time.Time `json:"Created"`
	Size    int64     `json:"Size"`
	// TopLayer is the ID of the layer whose chain is the root filesystem.
	TopLayer string                `json:"TopLayer"`
	Config   imgspecv1.ImageConfig `json:"Config"`
	// Architecture and OS from the image config.
	Architecture string `json:"Architecture"`
	OS           string `json:"Os"`
}

func (s *Store) image(id string) (*Image, error) {
	im, err := s.s.Image(id)
	if err != nil {
		return nil, err
	}
	return s.describe(im)
}

func (s *Store) describe(im *cstorage.Image) (*Image, error) {
	out := &Image{ID: im.ID, Names: im.Names, Digest: im.Digest.String(), Created: im.Created, TopLayer: im.TopLayer}
	if size, err := s.s.ImageSize(im.ID); err == nil {
		out.Size = size
	}
	cfgKey := digest.NewDigestFromEncoded(digest.SHA256, im.ID).String()
	if b, err := s.s.ImageBigData(im.ID, cfgKey); err == nil {
		var cfg imgspecv1.Image
		if json.Unmarshal(b, &cfg) == nil {
			out.Config = cfg.Config
			out.Architecture, out.OS = cfg.Architecture, cfg.OS
			if cfg.Created != nil {
				out.Created = *cfg.Created
			}
		}
	}
	return out, nil
}

// Images lists the stored images, newest first.
func (s *Store) Images() ([]*Image, error) {
	ims, err := s.s.Images()
	if err != nil {
		return nil, fmt.Errorf("storage: listing images: %w", err)
	}
	out := make([]*Image, 0, len(ims))
	for i := range ims {
		d, err := s.describe(&ims[i])
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Lookup finds an image by name (as docker matches names), full ID,
// "sha256:" ID or unique ID prefix.
func (s *Store) Lookup(ref string) (*Image, error) {
	ims, err := s.Images()
	if err != nil {
		return nil, err
	}
	im, err := match(ims, ref)
	if err != nil {
		return nil, err
	}
	return im, nil
}

func match(ims []*Image, ref string) (*Image, error) {
	id := strings.TrimPrefix(ref, "sha256:")
	// Names first: a name that looks like hex ("beef") is still a name.
	var byName []*Image
	for _, im := range ims {
		for _, n := range im.Names {
			if NameMatches(n, ref) {
				byName = append(byName, im)
				break
			}
		}
	}
	if len(byName) == 1 {
		return byName[0], nil
	}
	if len(byName) > 1 {
		return nil, fmt.Errorf("%w: %q matches %d images, use the full name", ErrAmbiguous, ref, len(byName))
	}
	if isHex(id) {
		var found []*Image
		for _, im := range ims {
			if strings.HasPrefix(im.ID, id) {
				found = append(found, im)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
		default:
			return nil, fmt.Errorf("%w: %q matches %d images", ErrAmbiguous, ref, len(found))
		}
	}
	return nil, fmt.Errorf("%w: %s (see usandbox images, or usandbox pull it)", ErrImageUnknown, ref)
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// RemoveResult says what Remove did.
type RemoveResult struct {
	Untagged []string
	Deleted  string
}

// Remove removes what ref names. When ref is one of several names of an
// image, only the name goes (docker's "Untagged"); otherwise the image and
// the layers no other image uses go. inUse lists the sandboxes using an
// image; a used image is refused unless force.
func (s *Store) Remove(ref string, force bool, inUse func(id string) []string) (*RemoveResult, error) {
	im, err := s.Lookup(ref)
	if err != nil {
		return nil, err
	}
	res := &RemoveResult{}
	var name string
	for _, n := range im.Names {
		if NameMatches(n, ref) {
			name = n
			break
		}
	}
	if name != "" && len(im.Names) > 1 {
		if err := s.s.RemoveNames(im.ID, []string{name}); err != nil {
			return nil, fmt.Errorf("storage: untagging %s: %w", name, err)
		}
		res.Untagged = []string{name}
		return res, nil
	}
	if users := inUse(im.ID); len(users) > 0 && !force {
		return nil, fmt.Errorf("%w by sandbox %s: remove the sandbox first, or use rmi -f", ErrImageInUse, strings.Join(users, ", "))
	}
	if _, err := s.s.DeleteImage(im.ID, true); err != nil {
		return nil, fmt.Errorf("storage: removing image %s: %w", im.ID[:12], err)
	}
	res.Untagged = im.Names
	res.Deleted = "sha256:" + im.ID
	return res, nil
}
