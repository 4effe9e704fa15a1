package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	cstorage "go.podman.io/storage"

	"usandbox/storage/index"
)

// Errors from package index, re-exported for callers of this package.
var (
	ErrImageUnknown = index.ErrImageUnknown
	ErrAmbiguous    = index.ErrAmbiguous
)

// ErrImageInUse is wrapped when rmi would remove an image a sandbox uses.
var ErrImageInUse = errors.New("image is in use")

// Image is a stored image.
type Image = index.Image

func (s *Store) image(id string) (*Image, error) {
	im, err := s.s.Image(id)
	if err != nil {
		return nil, err
	}
	return s.describe(im)
}

func (s *Store) describe(im *cstorage.Image) (*Image, error) {
	out := &Image{ID: im.ID, Names: im.Names, Digest: im.Digest.String(), Created: im.Created, TopLayer: im.TopLayer}
	if v, ok := im.Flags[intermediateFlag].(bool); ok && v && len(im.Names) == 0 {
		out.Intermediate = true
	}
	if size, err := s.s.ImageSize(im.ID); err == nil {
		out.Size = size
	}
	cfgKey := digest.NewDigestFromEncoded(digest.SHA256, im.ID).String()
	if b, err := s.s.ImageBigData(im.ID, cfgKey); err == nil {
		var cfg imgspecv1.Image
		if json.Unmarshal(b, &cfg) == nil {
			c := cfg.Config
			out.Config = index.Config{User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, StopSignal: c.StopSignal}
			out.Config.Labels, out.Config.ExposedPorts, out.Config.Volumes = c.Labels, c.ExposedPorts, c.Volumes
			for _, d := range cfg.RootFS.DiffIDs {
				out.DiffIDs = append(out.DiffIDs, d.String())
			}
			out.Architecture, out.OS = cfg.Architecture, cfg.OS
			if cfg.Created != nil {
				out.Created = *cfg.Created
			}
		}
	}
	// The layer chain, bottom first, as directories of the driver.
	for id := im.TopLayer; id != ""; {
		l, err := s.s.Layer(id)
		if err != nil {
			return nil, fmt.Errorf("storage: image %s: layer %s: %w", im.ID[:12], id, err)
		}
		out.Layers = append([]index.Layer{s.layerDir(id)}, out.Layers...)
		id = l.Parent
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
	im, err := (&index.Index{Images: ims}).Lookup(ref)
	if errors.Is(err, ErrImageUnknown) {
		err = fmt.Errorf("%w (see usandbox images, or usandbox pull it)", err)
	}
	return im, err
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
		if index.NameMatches(n, ref) {
			name = n
			break
		}
	}
	if name != "" && len(im.Names) > 1 {
		if err := s.s.RemoveNames(im.ID, []string{name}); err != nil {
			return nil, fmt.Errorf("storage: untagging %s: %w", name, err)
		}
		res.Untagged = []string{name}
		return res, s.WriteIndex()
	}
	if users := inUse(im.ID); len(users) > 0 && !force {
		return nil, fmt.Errorf("%w by sandbox %s: remove the sandbox first, or use rmi -f", ErrImageInUse, strings.Join(users, ", "))
	}
	if _, err := s.s.DeleteImage(im.ID, true); err != nil {
		return nil, fmt.Errorf("storage: removing image %s: %w", im.ID[:12], err)
	}
	res.Untagged = im.Names
	res.Deleted = "sha256:" + im.ID
	return res, s.WriteIndex()
}
