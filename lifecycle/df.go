package lifecycle

import (
	"context"
	"io/fs"
	"path/filepath"

	"usandbox/storage/index"
)

// Usage is one line of system df: how many there are, how many are in
// use, their size and what removing the unused ones would free (bytes).
type Usage struct {
	Type        string
	Total       int
	Active      int
	Size        int64
	Reclaimable int64
	// Items are the images (by ID), sandboxes (by ID) or volumes (by
	// name) counted, each with its size, for docker's GET /system/df.
	Items []UsageItem
}

// UsageItem is one image, sandbox or volume of a Usage. Users are the
// sandboxes made from the image or mounting the volume; for a sandbox,
// 1 while it runs, else 0.
type UsageItem struct {
	ID    string
	Size  int64
	Users int
}

// DiskUsage is podman's system df: images (active: used by a sandbox;
// sizes from the image index, so layers two images share count twice),
// sandboxes (active: running; size: their upper layers) and volumes
// (active: used by a sandbox; size: their files).
func (e *Engine) DiskUsage(ctx context.Context) ([]Usage, error) {
	all, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	ix, err := index.Read(e.paths)
	if err != nil {
		return nil, err
	}
	used := map[string]int{}
	volUsers := map[string]int{}
	ctrs := Usage{Type: "Containers", Total: len(all)}
	for _, sb := range all {
		used[sb.ImageID]++
		for _, m := range sb.Spec.Mounts {
			if m.Type == "volume" && m.Name != "" {
				volUsers[m.Name]++
			}
		}
		size := dirSize(sb.Spec.Rootfs.Upper)
		ctrs.Size += size
		it := UsageItem{ID: sb.ID, Size: size}
		if sb.State.Running {
			ctrs.Active++
			it.Users = 1
		} else {
			ctrs.Reclaimable += size
		}
		ctrs.Items = append(ctrs.Items, it)
	}
	ims := Usage{Type: "Images", Total: len(ix.Images)}
	for _, im := range ix.Images {
		ims.Size += im.Size
		if used[im.ID] > 0 {
			ims.Active++
		} else {
			ims.Reclaimable += im.Size
		}
		ims.Items = append(ims.Items, UsageItem{ID: im.ID, Size: im.Size, Users: used[im.ID]})
	}
	vols := Usage{Type: "Local Volumes"}
	list, err := e.VolumeList(ctx, VolumeFilters{})
	if err != nil {
		return nil, err
	}
	inUse, err := e.usedVolumes()
	if err != nil {
		return nil, err
	}
	for _, v := range list {
		vols.Total++
		size := dirSize(v.Mountpoint)
		vols.Size += size
		if inUse[v.Name] {
			vols.Active++
		} else {
			vols.Reclaimable += size
		}
		vols.Items = append(vols.Items, UsageItem{ID: v.Name, Size: size, Users: volUsers[v.Name]})
	}
	return []Usage{ims, ctrs, vols}, nil
}

// dirSize adds up the sizes of the files under dir. What this user
// cannot read (a directory of one of the sandbox's users, mode 0700) is
// not counted: df is an estimate, as podman's is.
func dirSize(dir string) int64 {
	var n int64
	if dir == "" {
		return 0
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: skipped, see above
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// PruneSize is Prune, also returning the bytes the removed sandboxes'
// upper layers held (system prune's "reclaimed space").
func (e *Engine) PruneSize(ctx context.Context) ([]string, int64, error) {
	all, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		return nil, 0, err
	}
	sizes := map[string]int64{}
	for _, sb := range all {
		if !sb.State.Running {
			sizes[sb.ID] = dirSize(sb.Spec.Rootfs.Upper)
		}
	}
	ids, err := e.Prune(ctx)
	var freed int64
	for _, id := range ids {
		freed += sizes[id]
	}
	return ids, freed, err
}

// ImageIDs are the IDs of every image of the store (rmi -a).
func (e *Engine) ImageIDs() ([]string, error) {
	ix, err := index.Read(e.paths)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, im := range ix.Images {
		out = append(out, im.ID)
	}
	return out, nil
}
