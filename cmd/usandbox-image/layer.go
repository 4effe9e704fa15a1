package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v3"
	"go.podman.io/storage/pkg/archive"

	"usandbox/build"
	"usandbox/storage"
	"usandbox/storage/index"
)

// commitLayerCommand is the store side of commit and build: it reads an
// index.LayerRequest on stdin and stores the image it describes.
func commitLayerCommand() *cli.Command {
	return &cli.Command{
		Name:   "commit-layer",
		Usage:  "store an image made of a parent, a new layer and a config (read as JSON on stdin)",
		Hidden: true,
		Flags:  []cli.Flag{jsonFlag},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				var req index.LayerRequest
				if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
					return fmt.Errorf("reading the layer request: %w", err)
				}
				im, err := commitLayer(st, &req)
				if err != nil {
					return err
				}
				if cmd.Bool("json") {
					sendJSON(index.ToolMessage{Kind: index.ToolImage, ID: im.ID})
				} else {
					fmt.Println(im.ID)
				}
				return nil
			})
		}),
	}
}

func commitLayer(st *storage.Store, req *index.LayerRequest) (*storage.Image, error) {
	var cfg dockerspec.DockerOCIImage
	if req.Commit != nil {
		var err error
		if cfg, err = commitConfig(st, req); err != nil {
			return nil, err
		}
	} else if err := json.Unmarshal(req.Config, &cfg); err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	if len(req.Changes) > 0 {
		if err := build.ApplyChanges(&cfg, req.Changes); err != nil {
			return nil, err
		}
	}
	var layer io.ReadCloser
	switch {
	case req.Tar != "":
		if err := isTar(req.Tar); err != nil {
			return nil, err
		}
		f, err := os.Open(req.Tar)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if layer, err = archive.DecompressStream(f); err != nil {
			return nil, fmt.Errorf("reading %s: %w", req.Tar, err)
		}
	case req.Upper != "":
		var err error
		if layer, err = storage.UpperTar(req.Upper, req.Lowers); err != nil {
			return nil, err
		}
	case len(req.Copies) > 0:
		tmp, err := os.MkdirTemp(st.Paths().TmpDir(), "copy-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		upper, lowers, err := copyLayer(st, tmp, req)
		if err != nil {
			return nil, err
		}
		if layer, err = storage.UpperTar(upper, lowers); err != nil {
			return nil, err
		}
	}
	n := storage.NewImage{Parent: req.Parent, Config: cfg, Names: req.Names, Intermediate: req.Intermediate}
	if layer != nil {
		defer layer.Close()
		n.Layer = layer
	}
	return st.Create(n)
}

// imageConfigCommand prints an image's whole config (for build's FROM).
func imageConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "image-config",
		Usage:     "print an image's ID and whole config",
		ArgsUsage: "IMAGE",
		Hidden:    true,
		Flags:     []cli.Flag{jsonFlag},
		Action: jsonErrors(func(ctx context.Context, cmd *cli.Command) error {
			return withStore(ctx, cmd, storeOptions{}, func(ctx context.Context, st *storage.Store) error {
				im, cfg, err := st.ImageConfig(cmd.Args().First())
				if err != nil {
					return err
				}
				b, err := json.Marshal(cfg)
				if err != nil {
					return err
				}
				sendJSON(index.ToolMessage{Kind: index.ToolImage, ID: im.ID, Config: b})
				return nil
			})
		}),
	}
}

// commitConfig is a committed sandbox's config: its parent's, with the
// sandbox's settings over it and one more history entry.
func commitConfig(st *storage.Store, req *index.LayerRequest) (dockerspec.DockerOCIImage, error) {
	var cfg dockerspec.DockerOCIImage
	if req.Parent != "" {
		_, p, err := st.ImageConfig(req.Parent)
		if err != nil {
			return cfg, err
		}
		cfg = *p
	} else {
		cfg.OS, cfg.Architecture = "linux", goarch()
	}
	var sb dockerspec.DockerOCIImageConfig
	if err := json.Unmarshal(req.Config, &sb); err != nil {
		return cfg, fmt.Errorf("reading the sandbox's config: %w", err)
	}
	c := &cfg.Config
	c.User, c.Env, c.Entrypoint, c.Cmd, c.WorkingDir = sb.User, sb.Env, sb.Entrypoint, sb.Cmd, sb.WorkingDir
	c.StopSignal = sb.StopSignal
	if sb.Labels != nil {
		c.Labels = sb.Labels
	}
	if sb.ExposedPorts != nil {
		c.ExposedPorts = sb.ExposedPorts
	}
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.Author = req.Commit.Author
	cfg.History = append(cfg.History, imgspecv1.History{Created: &now, CreatedBy: req.Commit.CreatedBy, Author: req.Commit.Author, Comment: req.Commit.Comment})
	return cfg, nil
}

// layerDirs are an image's layer directories, top first ("" has none).
func layerDirs(ix *index.Index, ref string) ([]string, error) {
	if ref == "" {
		return nil, nil
	}
	im, err := ix.Lookup(ref)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, len(im.Layers))
	for i, l := range im.Layers {
		dirs[len(dirs)-1-i] = filepath.Join(ix.Home, l.Dir)
	}
	return dirs, nil
}

// copyLayer applies req's copies over its parent's root, mounted in tmp
// (this process's own mount namespace, inside the user namespace), and
// returns the overlay's upper directory, unmounted.
func copyLayer(st *storage.Store, tmp string, req *index.LayerRequest) (string, []string, error) {
	ix, err := index.Read(st.Paths())
	if err != nil {
		return "", nil, err
	}
	lowers, err := layerDirs(ix, req.Parent)
	if err != nil {
		return "", nil, err
	}
	upper, work, root := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "root")
	for _, d := range []string{upper, work, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", nil, err
		}
	}
	if err := build.Mount(lowers, upper, work, root); err != nil {
		return "", nil, err
	}
	err = func() error {
		defer build.Unmount(root)
		for i, op := range req.Copies {
			src := op.Context
			if op.FromImage != "" {
				from, err := layerDirs(ix, op.FromImage)
				if err != nil {
					return err
				}
				src = filepath.Join(tmp, fmt.Sprintf("from-%d", i))
				if err := os.Mkdir(src, 0o755); err != nil {
					return err
				}
				if err := build.Mount(from, "", "", src); err != nil {
					return err
				}
			}
			err := build.Apply(root, src, op)
			if op.FromImage != "" {
				if uerr := build.Unmount(src); err == nil {
					err = uerr
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		return "", nil, err
	}
	return upper, lowers, nil
}

// goarch is the OCI architecture of this machine (Go's names are OCI's).
func goarch() string { return runtime.GOARCH }

// isTar checks that p holds a tar archive (compressed or not), so that
// import of another file says so rather than how the unpacking broke.
func isTar(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := archive.DecompressStream(f)
	if err == nil {
		defer r.Close()
		_, err = tar.NewReader(r).Next()
	}
	if err != nil {
		return fmt.Errorf("%s is not a tar archive (plain, gzip, bzip2, xz or zstd): give the output of usandbox export or tar", filepath.Base(p))
	}
	return nil
}
