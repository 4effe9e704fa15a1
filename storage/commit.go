package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	imgspec "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/manifest"
	cstorage "go.podman.io/storage"
)

// NewImage is an image to store: a config over the layers of a parent
// image, and at most one new layer. Commit, build and import make images
// this way.
type NewImage struct {
	// Parent is the ID of the image whose layers are below; "" for none
	// (FROM scratch, import).
	Parent string
	// Layer is the new layer as an uncompressed tar with docker's
	// whiteouts (UpperTar makes one from a sandbox's upper directory);
	// nil adds no layer.
	Layer io.Reader
	// Config is the whole image config but its rootfs, which Create
	// fills in: the parent's diff IDs and the new layer's.
	Config dockerspec.DockerOCIImage
	// Names are given as tag gives them (TagName); a name another image
	// had moves to the new one.
	Names []string
	// Intermediate marks a build's step image: kept for the layer cache,
	// not listed by images unless --all.
	Intermediate bool
}

// intermediateFlag is the storage image flag of Intermediate.
const intermediateFlag = "usandbox-intermediate"

// Create stores n and returns the image. Its manifest lists the parent's
// layers as the parent's manifest does (so a push reuses blobs a registry
// has) and the new layer uncompressed, as buildah stores what it commits:
// a push compresses it. On failure nothing is left: no layer, no image.
func (s *Store) Create(n NewImage) (im *Image, err error) {
	var parentTop string
	var diffIDs []digest.Digest
	var layers []imgspecv1.Descriptor
	if n.Parent != "" {
		p, err := s.s.Image(n.Parent)
		if err != nil {
			return nil, fmt.Errorf("storage: the parent image %s: %w", n.Parent, err)
		}
		parentTop = p.TopLayer
		if diffIDs, layers, err = s.layerDescriptors(p); err != nil {
			return nil, err
		}
	}
	top := parentTop
	if n.Layer != nil {
		l, _, err := s.s.PutLayer("", parentTop, nil, "", false, nil, n.Layer)
		if err != nil {
			return nil, fmt.Errorf("storage: storing the new layer: %w", err)
		}
		defer func() {
			if err != nil {
				// Nothing half-made stays: the layer goes with the
				// image that failed.
				_ = s.s.DeleteLayer(l.ID)
			}
		}()
		top = l.ID
		diffIDs = append(diffIDs, l.UncompressedDigest)
		layers = append(layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayer, Digest: l.UncompressedDigest, Size: l.UncompressedSize})
	}
	cfg := n.Config
	cfg.RootFS = imgspecv1.RootFS{Type: "layers", DiffIDs: diffIDs}
	if cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []digest.Digest{}
	}
	if cfg.Created == nil {
		now := time.Now().UTC()
		cfg.Created = &now
	}
	cfgBlob, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgDigest := digest.FromBytes(cfgBlob)
	if layers == nil {
		layers = []imgspecv1.Descriptor{}
	}
	m := imgspecv1.Manifest{
		Versioned: imgspec.Versioned{SchemaVersion: 2},
		MediaType: imgspecv1.MediaTypeImageManifest,
		Config:    imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgBlob))},
		Layers:    layers,
	}
	mBlob, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	mDigest := digest.FromBytes(mBlob)
	id := cfgDigest.Encoded()
	opts := &cstorage.ImageOptions{
		CreationDate: *cfg.Created,
		Digest:       mDigest,
		BigData: []cstorage.ImageBigDataOption{
			{Key: cfgDigest.String(), Data: cfgBlob, Digest: cfgDigest},
			{Key: cstorage.ImageDigestManifestBigDataNamePrefix + "-" + mDigest.String(), Data: mBlob, Digest: mDigest},
			{Key: cstorage.ImageDigestBigDataKey, Data: mBlob, Digest: mDigest},
		},
	}
	if n.Intermediate {
		opts.Flags = map[string]any{intermediateFlag: true}
	}
	created := true
	if _, err := s.s.CreateImage(id, nil, top, "", opts); err != nil {
		if !errors.Is(err, cstorage.ErrDuplicateID) {
			return nil, fmt.Errorf("storage: storing the image: %w", err)
		}
		// The same config (and so the same layers) is stored already:
		// that image gets the names, and a new layer is not needed.
		if top != parentTop {
			if derr := s.s.DeleteLayer(top); derr != nil {
				return nil, fmt.Errorf("storage: removing a duplicate layer: %w", derr)
			}
		}
		created = false
	}
	defer func() {
		if err != nil && created {
			_, _ = s.s.DeleteImage(id, false)
		}
	}()
	var full []string
	for _, name := range n.Names {
		f, err := TagName(name)
		if err != nil {
			return nil, err
		}
		full = append(full, f)
	}
	if len(full) > 0 {
		if err := s.s.AddNames(id, full); err != nil {
			return nil, fmt.Errorf("storage: naming %s: %w", id[:12], err)
		}
	}
	if err := s.WriteIndex(); err != nil {
		return nil, err
	}
	return s.image(id)
}

// layerDescriptors returns an image's diff IDs and its manifest's layer
// descriptors (in OCI media types), bottom first.
func (s *Store) layerDescriptors(im *cstorage.Image) ([]digest.Digest, []imgspecv1.Descriptor, error) {
	cfgKey := digest.NewDigestFromEncoded(digest.SHA256, im.ID).String()
	b, err := s.s.ImageBigData(im.ID, cfgKey)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: reading the config of %s: %w", im.ID[:12], err)
	}
	var cfg imgspecv1.Image
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, nil, fmt.Errorf("storage: reading the config of %s: %w", im.ID[:12], err)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if mb, err := s.s.ImageBigData(im.ID, cstorage.ImageDigestBigDataKey); err == nil {
		if m, err := manifest.FromBlob(mb, manifest.GuessMIMEType(mb)); err == nil {
			infos := m.LayerInfos()
			if len(infos) == len(diffIDs) {
				var out []imgspecv1.Descriptor
				for _, li := range infos {
					out = append(out, imgspecv1.Descriptor{MediaType: ociLayerType(li.MediaType), Digest: li.Digest, Size: li.Size})
				}
				return diffIDs, out, nil
			}
		}
	}
	// No usable manifest (a list, or none): the layers as stored,
	// uncompressed, which storage serves by their diff IDs.
	var out []imgspecv1.Descriptor
	for id := im.TopLayer; id != ""; {
		l, err := s.s.Layer(id)
		if err != nil {
			return nil, nil, fmt.Errorf("storage: image %s: layer %s: %w", im.ID[:12], id, err)
		}
		out = append([]imgspecv1.Descriptor{{MediaType: imgspecv1.MediaTypeImageLayer, Digest: l.UncompressedDigest, Size: l.UncompressedSize}}, out...)
		id = l.Parent
	}
	if len(out) != len(diffIDs) {
		return nil, nil, fmt.Errorf("storage: image %s has %d layers but its config lists %d", im.ID[:12], len(out), len(diffIDs))
	}
	return diffIDs, out, nil
}

// ociLayerType is the OCI media type of a layer of the given type (docker
// schema 2 types differ in name only).
func ociLayerType(t string) string {
	switch t {
	case manifest.DockerV2Schema2LayerMediaType:
		return imgspecv1.MediaTypeImageLayerGzip
	case manifest.DockerV2SchemaLayerMediaTypeUncompressed:
		return imgspecv1.MediaTypeImageLayer
	case manifest.DockerV2Schema2ForeignLayerMediaType:
		return imgspecv1.MediaTypeImageLayerNonDistributable //nolint:staticcheck // what the docker type means
	case manifest.DockerV2Schema2ForeignLayerMediaTypeGzip:
		return imgspecv1.MediaTypeImageLayerNonDistributableGzip //nolint:staticcheck // what the docker type means
	}
	return t
}

// ImageConfig returns an image's whole config (what Create takes).
func (s *Store) ImageConfig(ref string) (*Image, *dockerspec.DockerOCIImage, error) {
	im, err := s.Lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	cfgKey := digest.NewDigestFromEncoded(digest.SHA256, im.ID).String()
	b, err := s.s.ImageBigData(im.ID, cfgKey)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: reading the config of %s: %w", im.ID[:12], err)
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, nil, fmt.Errorf("storage: reading the config of %s: %w", im.ID[:12], err)
	}
	return im, &cfg, nil
}
