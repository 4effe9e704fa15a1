package storage

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker/archive"
	"go.podman.io/image/v5/docker/reference"
	ociarchive "go.podman.io/image/v5/oci/archive"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/types"
)

// Archive formats of Save.
const (
	DockerArchive = "docker-archive"
	OCIArchive    = "oci-archive"
)

// ErrExists is wrapped when an output file is there already.
var ErrExists = errors.New("file exists")

// Save writes the images refs to the archive file output, in format
// (DockerArchive, several images, each with the name it was asked by or,
// asked by ID, all its names; or OCIArchive, one image). output may be a
// pipe (/dev/stdout); a regular file is written under a temporary name
// and renamed at the end, so a failure leaves none, and an existing
// docker-archive is refused, as podman does.
func (s *Store) Save(ctx context.Context, refs []string, format, output string, p Progress) (retErr error) {
	switch format {
	case "", DockerArchive:
		format = DockerArchive
	case OCIArchive:
		if len(refs) > 1 {
			return fmt.Errorf("%w: --format oci-archive holds one image, not %d: use docker-archive for several", ErrBadReference, len(refs))
		}
	default:
		return fmt.Errorf("%w: unknown archive format %q (use docker-archive or oci-archive)", ErrBadReference, format)
	}
	if len(refs) == 0 {
		return fmt.Errorf("%w: no image to save", ErrBadReference)
	}
	type item struct {
		im    *Image
		names []string
	}
	var items []item
	for _, ref := range refs {
		im, err := s.Lookup(ref)
		if err != nil {
			return err
		}
		names := im.Names
		if n := nameOf(im, ref); n != "" {
			names = []string{n}
		}
		items = append(items, item{im, names})
	}
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("saving to %s: %w", output, retErr)
		}
	}()
	target := output
	// A path under /dev (/dev/stdout, /dev/fd/N) is a stream, written as
	// it is: renaming onto it would not write it.
	stream := strings.HasPrefix(filepath.Clean(output), "/dev/")
	if fi, err := os.Stat(output); !stream && (err == nil && fi.Mode().IsRegular() || errors.Is(err, os.ErrNotExist)) {
		if err == nil && fi.Size() > 0 && format == DockerArchive {
			return fmt.Errorf("%w: a docker-archive cannot be added to: remove it first, or write another file", ErrExists)
		}
		f, err := os.CreateTemp(filepath.Dir(output), ".usandbox-save-*")
		if err != nil {
			return err
		}
		target = f.Name()
		// As a file the writer creates itself: CreateTemp's is private.
		err = f.Chmod(0o644)
		f.Close()
		if err != nil {
			os.Remove(target)
			return err
		}
		defer func() {
			if retErr == nil {
				retErr = os.Rename(target, output)
			}
			if retErr != nil {
				os.Remove(target)
			}
		}()
		if format == OCIArchive {
			os.Remove(target) // oci-archive creates the file itself
		}
	}
	if p == nil {
		p = nopProgress{}
	}
	pc, err := s.policy()
	if err != nil {
		return err
	}
	defer pc.Destroy()
	copyOne := func(im *Image, dest types.ImageReference) error {
		src, err := istorage.Transport.NewStoreReference(s.s, nil, im.ID)
		if err != nil {
			return err
		}
		opts := &copy.Options{SourceCtx: s.sys, DestinationCtx: s.sys}
		stop := followCopy(opts, p, digest.NewDigestFromEncoded(digest.SHA256, im.ID))
		_, err = copy.Image(ctx, pc, dest, src, opts)
		stop()
		return explain(err)
	}

	if format == OCIArchive {
		name := ""
		if len(items[0].names) > 0 {
			name = items[0].names[0]
		}
		dest, err := ociarchive.NewReference(target, name)
		if err != nil {
			return err
		}
		if err := copyOne(items[0].im, dest); err != nil {
			return err
		}
		p.Done("Writing manifest to image destination")
		return nil
	}
	w, err := archive.NewWriter(s.sys, target)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, it := range items {
		// containers/image's archive writer loses the config of an image
		// written a second time (tarfile.Destination keeps it only when
		// it sends it): an image goes in once, under its first name.
		if seen[it.im.ID] || len(it.names) > 1 {
			s.warn(fmt.Sprintf("docker-archive: image %s is saved under one name only, %s", it.im.ID[:12], firstOr(it.names, "the first")))
			if seen[it.im.ID] {
				continue
			}
			it.names = it.names[:1]
		}
		seen[it.im.ID] = true
		var tags []reference.NamedTagged
		for _, n := range it.names {
			named, err := reference.ParseNormalizedNamed(n)
			if err != nil {
				continue
			}
			if nt, ok := reference.TagNameOnly(named).(reference.NamedTagged); ok {
				tags = append(tags, nt)
			}
		}
		if len(tags) == 0 {
			tags = []reference.NamedTagged{nil}
		}
		for _, t := range tags {
			dest, err := w.NewReference(t)
			if err == nil {
				err = copyOne(it.im, dest)
			}
			if err != nil {
				w.Close()
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	p.Done("Writing manifest to image destination")
	return nil
}

// Load stores the images of the archive file input (a docker-archive,
// with any number of images, or an oci-archive) and returns what it
// loaded: each image's names, or "sha256:ID" for one without. Input ""
// reads the archive from r (kept in the store's temporary directory while
// it is read).
func (s *Store) Load(ctx context.Context, input string, r io.Reader, o PullOptions) (_ []string, retErr error) {
	what := input
	if input == "" {
		what = "stdin"
		f, err := os.CreateTemp(s.paths.TmpDir(), "load-*.tar")
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		defer os.Remove(f.Name())
		_, err = io.Copy(f, ctxReader{ctx, r})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("loading from stdin: %w", err)
		}
		input = f.Name()
	} else if _, err := os.Stat(input); err != nil {
		return nil, fmt.Errorf("loading %s: %w", input, err)
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	dr, derr := archive.NewReader(s.sys, input)
	if derr == nil {
		defer dr.Close()
		return s.loadDocker(ctx, dr, o)
	}
	ociName, oerr := ociArchiveName(input)
	if oerr != nil {
		return nil, fmt.Errorf("loading %s: %w: it is neither a docker-archive (%v) nor an oci-archive (%v)", what, ErrBadReference, derr, oerr)
	}
	ref, err := ociarchive.NewReference(input, "")
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", what, err)
	}
	img, err := s.pullOne(ctx, Source{Ref: ref, Name: ociName}, o)
	if err != nil {
		return nil, err
	}
	return loaded(img), nil
}

func (s *Store) loadDocker(ctx context.Context, dr *archive.Reader, o PullOptions) ([]string, error) {
	list, err := dr.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, refs := range list {
		var names []string
		for _, r := range refs {
			if n := r.DockerReference(); n != nil {
				names = append(names, reference.TagNameOnly(n).String())
			}
		}
		src := Source{Ref: refs[0]}
		if len(names) > 0 {
			src.Name = names[0]
		}
		img, err := s.pullOne(ctx, src, o)
		if err != nil {
			return out, err
		}
		if len(names) > 1 {
			if err := s.s.AddNames(img.ID, names[1:]); err != nil {
				return out, fmt.Errorf("naming the image: %w", err)
			}
			if err := s.WriteIndex(); err != nil {
				return out, err
			}
			img.Names = append(img.Names, names[1:]...)
		}
		out = append(out, loaded(img)...)
	}
	return out, nil
}

func loaded(img *Image) []string {
	if len(img.Names) == 0 {
		return []string{"sha256:" + img.ID}
	}
	return img.Names
}

// ociArchiveName reads an oci-archive's index.json and returns the name
// its one image is loaded as: its ref.name annotation when that is a full
// name (podman's save writes one), else none. An archive without
// index.json is not an oci-archive.
func ociArchiveName(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", errors.New("no index.json")
		}
		if err != nil {
			return "", err
		}
		if filepath.Clean(h.Name) != "index.json" {
			continue
		}
		var ix imgspecv1.Index
		if err := json.NewDecoder(io.LimitReader(tr, 4<<20)).Decode(&ix); err != nil {
			return "", fmt.Errorf("index.json: %w", err)
		}
		if len(ix.Manifests) != 1 {
			return "", fmt.Errorf("index.json lists %d images; usandbox loads an oci-archive of one", len(ix.Manifests))
		}
		n := ix.Manifests[0].Annotations[imgspecv1.AnnotationRefName]
		if named, err := reference.ParseNormalizedNamed(n); err == nil && n != "" {
			if _, ok := named.(reference.Digested); !ok {
				return reference.TagNameOnly(named).String(), nil
			}
		}
		return "", nil
	}
}

func firstOr(names []string, def string) string {
	if len(names) > 0 {
		return names[0]
	}
	return def
}
