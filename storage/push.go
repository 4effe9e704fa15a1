package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"

	"usandbox/storage/index"
)

// PushOptions tune Push.
type PushOptions struct {
	// Progress, if set, receives per-layer progress.
	Progress Progress
	// Format is the manifest type to write: "oci", "v2s2" (Docker's
	// schema 2), or "" for the image's own where the destination takes it.
	Format string
	// Auth, if set, are the registry credentials to use (push --creds,
	// the Docker API's X-Registry-Auth); else the auth file's are.
	Auth *types.DockerAuthConfig
	// AuthFile is the auth file to read ("": podman's default places,
	// then ~/.docker/config.json).
	AuthFile string
}

// PushResult is what Push wrote.
type PushResult struct {
	// Dest is the destination, with its transport.
	Dest string
	// Digest is the manifest's digest; Size its length.
	Digest digest.Digest
	Size   int
	// Tag is a registry destination's tag ("" for others).
	Tag string
}

// ResolveDestination parses where push sends an image: a transport's
// reference (docker://, oci:, oci-archive:, docker-archive:, dir:), or a
// registry name (docker:// implied; a name without a registry is on
// Docker Hub, one without a tag gets :latest).
func ResolveDestination(dest string) (types.ImageReference, error) {
	if dest == "" {
		return nil, fmt.Errorf("%w: empty destination", ErrBadReference)
	}
	if prefix, _, ok := strings.Cut(dest, ":"); ok {
		for _, t := range knownTransports {
			if prefix == t {
				ref, err := alltransports.ParseImageName(dest)
				if err != nil {
					return nil, fmt.Errorf("%w: %q: %v", ErrBadReference, dest, err)
				}
				return ref, nil
			}
		}
	}
	named, err := reference.ParseNormalizedNamed(dest)
	if err != nil {
		if prefix, rest, ok := strings.Cut(dest, ":"); ok && transportWord.MatchString(prefix) &&
			(strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, ".")) {
			return nil, fmt.Errorf("%w: unknown transport %q in %q (use docker://, oci:, oci-archive:, docker-archive: or dir:)", ErrBadReference, prefix, dest)
		}
		return nil, fmt.Errorf("%w: %q is not a valid image reference (%v)", ErrBadReference, dest, err)
	}
	src, err := registrySource(reference.TagNameOnly(named))
	if err != nil {
		return nil, err
	}
	return src.Ref, nil
}

// manifestType is --format's manifest MIME type.
func manifestType(format string) (string, error) {
	switch format {
	case "":
		return "", nil
	case "oci":
		return imgspecv1.MediaTypeImageManifest, nil
	case "v2s2", "docker":
		return manifest.DockerV2Schema2MediaType, nil
	}
	return "", fmt.Errorf("%w: unknown manifest format %q (use oci or v2s2)", ErrBadReference, format)
}

// Push copies the image ref to dest (ResolveDestination; "" for the
// registry the image's name ref says). Layers stored uncompressed are
// compressed for a destination that wants it (a registry, an OCI layout);
// a blob the destination is known to have (the blob-info cache of earlier
// pushes and pulls) is not sent again. A failure leaves no file or
// directory that was not there before.
func (s *Store) Push(ctx context.Context, ref, dest string, o PushOptions) (_ *PushResult, retErr error) {
	mime, err := manifestType(o.Format)
	if err != nil {
		return nil, err
	}
	im, err := s.Lookup(ref)
	if err != nil {
		return nil, err
	}
	name := nameOf(im, ref)
	if dest == "" {
		if name == "" {
			return nil, fmt.Errorf("%w: %s is an image ID, which names no registry: give the destination (push IMAGE DEST)", ErrBadReference, ref)
		}
		dest = name
	}
	destRef, err := ResolveDestination(dest)
	if err != nil {
		return nil, err
	}
	what := transportsString(destRef)
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("pushing %s to %s: %w", ref, what, explain(retErr))
		}
	}()
	// docker-archive: without a name of its own, the archive gets the
	// image's (podman's rule), so that loading it names the image again.
	if destRef.Transport().Name() == "docker-archive" && destRef.DockerReference() == nil && name != "" {
		if n, err := reference.ParseNormalizedNamed(name); err == nil {
			if nt, ok := reference.TagNameOnly(n).(reference.NamedTagged); ok {
				path, _, _ := strings.Cut(destRef.StringWithinTransport(), ":")
				if r, err := alltransports.ParseImageName("docker-archive:" + path + ":" + nt.String()); err == nil {
					destRef = r
				}
			}
		}
	}
	cleanup := newPathCleanup(destRef)
	defer func() {
		if retErr != nil {
			cleanup()
		}
	}()

	srcRef, err := istorage.Transport.NewStoreReference(s.s, nil, im.ID)
	if err != nil {
		return nil, err
	}
	pc, err := s.policy()
	if err != nil {
		return nil, err
	}
	defer pc.Destroy()
	destSys := *s.sys
	destSys.AuthFilePath = o.AuthFile
	destSys.DockerAuthConfig = o.Auth
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	opts := &copy.Options{
		SourceCtx:             s.sys,
		DestinationCtx:        &destSys,
		ForceManifestMIMEType: mime,
	}
	stop := followCopy(opts, o.Progress, digest.NewDigestFromEncoded(digest.SHA256, im.ID))
	raw, err := copy.Image(ctx, pc, destRef, srcRef, opts)
	stop()
	if err != nil {
		return nil, err
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return nil, err
	}
	o.Progress.Done("Writing manifest to image destination")
	res := &PushResult{Dest: what, Digest: d, Size: len(raw)}
	if destRef.Transport().Name() == "docker" {
		if nt, ok := destRef.DockerReference().(reference.NamedTagged); ok {
			res.Tag = nt.Tag()
		}
	}
	return res, nil
}

// nameOf is the image's full name that ref names ("" for an ID).
func nameOf(im *Image, ref string) string {
	for _, n := range im.Names {
		if index.NameMatches(n, ref) {
			return n
		}
	}
	return ""
}

// followCopy passes copy.Image's progress events to p (the config blob,
// which pull does not report either, aside) until the returned stop.
func followCopy(opts *copy.Options, p Progress, config digest.Digest) (stop func()) {
	ch := make(chan types.ProgressProperties)
	opts.Progress, opts.ProgressInterval = ch, 100*time.Millisecond
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bars := map[digest.Digest]Bar{}
		for ev := range ch {
			d := ev.Artifact.Digest
			if d == config {
				continue
			}
			switch ev.Event {
			case types.ProgressEventNewArtifact:
				bars[d] = p.Start(ev.Artifact)
			case types.ProgressEventRead:
				if b := bars[d]; b != nil {
					b.Set(int64(ev.Offset))
				}
			case types.ProgressEventDone:
				if b := bars[d]; b != nil {
					b.Done()
					delete(bars, d)
				}
			case types.ProgressEventSkipped:
				p.Skip(ev.Artifact)
			}
		}
		for _, b := range bars {
			b.Abort()
		}
	}()
	return func() {
		close(ch)
		wg.Wait()
	}
}

// newPathCleanup returns what removes a file or directory destination
// that did not exist before (a failed copy's leftovers); for others, and
// for paths that existed, it does nothing.
func newPathCleanup(ref types.ImageReference) func() {
	path := ""
	switch ref.Transport().Name() {
	case "oci", "oci-archive", "docker-archive":
		path, _, _ = strings.Cut(ref.StringWithinTransport(), ":")
	case "dir":
		path = ref.StringWithinTransport()
	}
	if path == "" {
		return func() {}
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return func() {}
	}
	return func() { os.RemoveAll(path) }
}
