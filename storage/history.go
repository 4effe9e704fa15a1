package storage

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// HistoryEntry is one step of an image's history, newest first, as
// podman's history shows it.
type HistoryEntry struct {
	// ID is the image whose top layer this step made ("<missing>" for
	// the steps below an image's top).
	ID        string
	Created   time.Time
	CreatedBy string
	// Size is the bytes of the layer the step made (0 for a step that
	// made none: ENV, CMD and the like).
	Size    int64
	Comment string
	// Tags are the names of the image with ID.
	Tags []string
}

// History reads the image ref's history from its config, newest first,
// each layer-making step with the size of its layer (podman's libimage
// History, for an image's own chain).
func (s *Store) History(ref string) ([]HistoryEntry, error) {
	im, err := s.Lookup(ref)
	if err != nil {
		return nil, err
	}
	b, err := s.s.ImageBigData(im.ID, digest.NewDigestFromEncoded(digest.SHA256, im.ID).String())
	if err != nil {
		return nil, fmt.Errorf("storage: image %s: reading its config: %w", im.ID[:12], err)
	}
	var cfg imgspecv1.Image
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("storage: image %s: its config: %w", im.ID[:12], err)
	}
	// The layers' sizes from the top down.
	var layers []int64
	for id := im.TopLayer; id != ""; {
		l, err := s.s.Layer(id)
		if err != nil {
			return nil, fmt.Errorf("storage: image %s: layer %s: %w", im.ID[:12], id, err)
		}
		size := l.UncompressedSize
		if size < 0 {
			size = 0
		}
		layers = append(layers, size)
		id = l.Parent
	}
	var out []HistoryEntry
	next := 0
	for i := len(cfg.History) - 1; i >= 0; i-- {
		h := cfg.History[i]
		e := HistoryEntry{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
		if h.Created != nil {
			e.Created = *h.Created
		}
		if !h.EmptyLayer && next < len(layers) {
			e.Size = layers[next]
			next++
		}
		if len(out) == 0 {
			e.ID, e.Tags = im.ID, im.Names
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		// No history in the config: one line for the image, as podman.
		out = append(out, HistoryEntry{ID: im.ID, Created: im.Created, Tags: im.Names, Size: im.Size})
	}
	return out, nil
}
