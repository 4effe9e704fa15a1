package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/pkg/compression"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
	drivers "go.podman.io/storage/drivers"
	"golang.org/x/sys/unix"
)

// ErrDigestMismatch is wrapped when a blob's content does not match its
// digest: a corrupt registry or a tampered download.
var ErrDigestMismatch = errors.New("digest mismatch")

// ErrNoSuchImage is wrapped when the source has no such image (the
// registry knows no such repository or tag).
var ErrNoSuchImage = errors.New("no such image")

// PullOptions tune Pull.
type PullOptions struct {
	// Progress, if set, receives per-layer progress.
	Progress Progress
	// Auth, if set, are the registry credentials to use (pull --creds,
	// the Docker API's X-Registry-Auth); else the auth file's are.
	Auth *types.DockerAuthConfig
	// AuthFile is the auth file to read ("": the default places).
	AuthFile string
}

// Pull fetches the image input names (see ResolveSources) into the store
// and returns it. Layers stream from the source through digest checks and
// decompression straight into the store, one pass, with no staging copy;
// an existing layer is never fetched again. A failure or cancellation
// leaves no layer or image behind.
func (s *Store) Pull(ctx context.Context, input string, o PullOptions) (*Image, error) {
	res, err := ResolveSources(input, s.sys)
	if err != nil {
		return nil, err
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if res.Description != "" {
		o.Progress.Note(res.Description)
	}
	srcs := res.Sources
	var errs []string
	for _, src := range srcs {
		if len(srcs) > 1 {
			o.Progress.Note("Trying to pull " + src.Name + "...")
		}
		img, err := s.pullOne(ctx, src, o)
		if err == nil {
			if err := src.Record(); err != nil {
				s.warn(err.Error())
			}
			return img, nil
		}
		if ctx.Err() != nil || len(srcs) == 1 {
			return nil, err
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("pulling %s: every candidate failed: %s", input, strings.Join(errs, "; "))
}

func (s *Store) policy() (*signature.PolicyContext, error) {
	var pol *signature.Policy
	var err error
	if p := userPolicyPath(); p != "" {
		pol, err = signature.NewPolicyFromFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading signature policy %s: %w", p, err)
		}
	} else {
		pol = &signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}}
	}
	return signature.NewPolicyContext(pol)
}

// userPolicyPath is $XDG_CONFIG_HOME/usandbox/policy.json when it exists:
// usandbox never reads podman's /etc/containers/policy.json.
func userPolicyPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(dir, "usandbox", "policy.json")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func (s *Store) pullOne(ctx context.Context, src Source, o PullOptions) (_ *Image, retErr error) {
	what := src.Name
	if what == "" {
		what = transportsString(src.Ref)
	}
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("pulling %s: %w", what, explain(retErr))
		}
	}()
	sys := s.sys
	if o.Auth != nil || o.AuthFile != "" {
		c := *s.sys
		c.DockerAuthConfig, c.AuthFilePath = o.Auth, o.AuthFile
		sys = &c
	}
	is, err := src.Ref.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	defer is.Close()

	raw, mime, err := is.GetManifest(ctx, nil)
	if err != nil {
		return nil, err
	}
	var instance *digest.Digest
	if manifest.MIMETypeIsMultiImage(mime) {
		list, err := manifest.ListFromBlob(raw, mime)
		if err != nil {
			return nil, err
		}
		d, err := list.ChooseInstance(s.sys)
		if err != nil {
			return nil, err
		}
		instance = &d
	}
	unparsed := image.UnparsedInstance(is, instance)
	pc, err := s.policy()
	if err != nil {
		return nil, err
	}
	defer pc.Destroy()
	if ok, err := pc.IsRunningImageAllowed(ctx, unparsed); !ok || err != nil {
		if err == nil {
			err = errors.New("rejected by the signature policy")
		}
		return nil, err
	}
	img, err := image.FromUnparsedImage(ctx, s.sys, unparsed)
	if err != nil {
		return nil, err
	}
	mraw, _, err := img.Manifest(ctx)
	if err != nil {
		return nil, err
	}
	mdigest, err := manifest.Digest(mraw)
	if err != nil {
		return nil, err
	}
	cfgInfo := img.ConfigInfo()
	cfgBlob, err := img.ConfigBlob(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := img.OCIConfig(ctx)
	if err != nil {
		return nil, err
	}
	infos := img.LayerInfos()
	if len(infos) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image has %d layers but its config lists %d diff IDs", len(infos), len(cfg.RootFS.DiffIDs))
	}
	id := cfgInfo.Digest.Encoded()

	parent := ""
	for i, info := range infos {
		lid := chainID(parent, cfg.RootFS.DiffIDs[i])
		if err := s.putLayer(ctx, is, lid, parent, info, cfg.RootFS.DiffIDs[i], o.Progress); err != nil {
			return nil, fmt.Errorf("layer %s: %w", info.Digest, err)
		}
		parent = lid
	}

	bigData := []cstorage.ImageBigDataOption{
		{Key: cstorage.ImageDigestBigDataKey, Data: mraw, Digest: mdigest},
		{Key: cstorage.ImageDigestManifestBigDataNamePrefix + "-" + mdigest.String(), Data: mraw, Digest: mdigest},
		{Key: cfgInfo.Digest.String(), Data: cfgBlob, Digest: cfgInfo.Digest},
	}
	created := cfg.Created
	opts := &cstorage.ImageOptions{Digest: mdigest, BigData: bigData}
	if created != nil {
		opts.CreationDate = *created
	}
	if _, err := s.s.CreateImage(id, nil, parent, "", opts); err != nil && !errors.Is(err, cstorage.ErrDuplicateID) {
		return nil, fmt.Errorf("storing the image: %w", err)
	}
	if src.Name != "" {
		// AddNames moves the name from any older image that had it.
		if err := s.s.AddNames(id, []string{src.Name}); err != nil {
			return nil, fmt.Errorf("naming the image: %w", err)
		}
	}
	o.Progress.Done("Writing manifest to image destination")
	if err := s.WriteIndex(); err != nil {
		return nil, err
	}
	return s.image(id)
}

func transportsString(ref types.ImageReference) string {
	return ref.Transport().Name() + ":" + ref.StringWithinTransport()
}

// chainID is the OCI ChainID of a layer on parent (a ChainID, hex): the
// layer's ID in the store, known before it is fetched.
func chainID(parent string, diffID digest.Digest) string {
	if parent == "" {
		return diffID.Encoded()
	}
	return digest.FromString("sha256:" + parent + " " + diffID.String()).Encoded()
}

// putLayer stores one layer unless it is there already. A per-layer lock
// makes concurrent pulls of images sharing a layer fetch it once.
func (s *Store) putLayer(ctx context.Context, is types.ImageSource, id, parent string, info types.BlobInfo, diffID digest.Digest, p Progress) error {
	unlock, err := s.lock("layer-" + id)
	if err != nil {
		return err
	}
	defer unlock()
	if l, err := s.s.Layer(id); err == nil && l.UncompressedDigest == diffID {
		p.Skip(info)
		// This source has the blob too: a push there can skip it.
		s.recordBlob(is.Reference(), info.Digest, diffID, "")
		return nil
	}

	rc, size, err := is.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return err
	}
	defer rc.Close()
	if info.Size <= 0 {
		info.Size = size
	}
	bar := p.Start(info)
	compressed := newVerifier(bar.Reader(ctxReader{ctx, rc}), info.Digest, info.Size)
	algo, decompress, rest, err := compression.DetectCompressionFormat(compressed)
	if err != nil {
		bar.Abort()
		return err
	}
	var tarStream io.Reader = rest
	if decompress != nil {
		d, err := decompress(rest)
		if err != nil {
			bar.Abort()
			return err
		}
		defer d.Close()
		tarStream = d
	}
	uncompressed := newVerifier(tarStream, diffID, -1)
	uncompressed.after = compressed // drain and check the compressed side at the end
	csize := info.Size
	err = s.storeLayer(id, parent, &cstorage.LayerOptions{
		OriginalDigest:     info.Digest,
		OriginalSize:       &csize,
		UncompressedDigest: diffID,
	}, uncompressed)
	if err == nil {
		// storage drains the tar stream, so the verifiers have seen EOF;
		// check anyway rather than trust that.
		if _, err = io.Copy(io.Discard, uncompressed); err != nil {
			if derr := s.s.DeleteLayer(id); derr != nil {
				err = fmt.Errorf("%w (and removing the layer: %v)", err, derr)
			}
		}
	}
	if err != nil {
		bar.Abort()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A corrupt blob usually breaks decompression before its digest
		// can be checked: read the rest to name the real cause.
		if _, derr := io.Copy(io.Discard, compressed); errors.Is(derr, ErrDigestMismatch) {
			return derr
		}
		return err
	}
	bar.Done()
	compressor := uncompressedName
	if decompress != nil {
		compressor = algo.Name()
	}
	s.recordBlob(is.Reference(), info.Digest, diffID, compressor)
	return nil
}

// storeLayer creates layer id on parent from an uncompressed tar. With
// overlay it extracts the tar itself (tarDiffer: linear in the entries,
// where storage's untar is quadratic in the depth of the tree) into a
// staging directory that storage then turns into the layer; vfs has no
// staging, so storage's own untar does it there.
func (s *Store) storeLayer(id, parent string, lo *cstorage.LayerOptions, tar io.Reader) error {
	if s.driver == "vfs" {
		_, _, err := s.s.PutLayer(id, parent, nil, "", false, lo, tar)
		return err
	}
	opts := &drivers.ApplyDiffWithDifferOpts{}
	out, err := s.s.PrepareStagedLayer(opts, &tarDiffer{tar: tar})
	if err == nil && out.UncompressedDigest != lo.UncompressedDigest {
		err = fmt.Errorf("%w: layer content is %s, the config says %s", ErrDigestMismatch, out.UncompressedDigest, lo.UncompressedDigest)
	}
	if err != nil {
		if out != nil && out.Target != "" {
			if cerr := s.s.CleanupStagedLayer(out); cerr != nil {
				err = fmt.Errorf("%w (and removing the staged layer: %v)", err, cerr)
			}
		}
		return err
	}
	_, err = s.s.ApplyStagedLayer(cstorage.ApplyStagedLayerOptions{
		ID:           id,
		ParentLayer:  parent,
		LayerOptions: lo,
		DiffOutput:   out,
		DiffOptions:  opts,
	})
	return err
}

// lock takes an exclusive flock on a named lock file in the store.
func (s *Store) lock(name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.paths.LockDir(), name+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: locking %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

// verifier hashes what is read through it and, at EOF, fails with
// ErrDigestMismatch instead of io.EOF when the content is not the expected.
type verifier struct {
	r      io.Reader
	want   digest.Digest
	size   int64 // expected size, or -1
	h      hash.Hash
	n      int64
	after  *verifier // checked (drained) before this one reports EOF
	result error     // sticky end result
}

func newVerifier(r io.Reader, want digest.Digest, size int64) *verifier {
	return &verifier{r: r, want: want, size: size, h: sha256.New()}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.result != nil {
		return 0, v.result
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.result = fmt.Errorf("%w: blob %s is larger than its %d bytes", ErrDigestMismatch, v.want, v.size)
		return n, v.result
	}
	if err == io.EOF {
		v.result = v.check()
		return n, v.result
	}
	if err != nil {
		v.result = err
	}
	return n, err
}

func (v *verifier) check() error {
	if v.after != nil {
		if _, err := io.Copy(io.Discard, v.after); err != nil {
			return err
		}
	}
	if v.want.Algorithm() != digest.SHA256 {
		return fmt.Errorf("unsupported digest algorithm %s", v.want.Algorithm())
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Encoded() {
		return fmt.Errorf("%w: expected %s, got sha256:%s (the source holds a corrupt blob)", ErrDigestMismatch, v.want, got)
	}
	if v.size >= 0 && v.n != v.size {
		return fmt.Errorf("%w: blob %s is %d bytes, expected %d", ErrDigestMismatch, v.want, v.n, v.size)
	}
	return io.EOF
}

// ctxReader stops a read stream when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// explain adds what to do to the errors users meet most. It goes by the
// error's type, as containers/image returns it: a registry's error code,
// an errno, a net error (never by words in the text, which a path or a
// registry's message can hold as well).
func explain(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted; nothing was stored for the unfinished layer, pull again to finish")
	case noSuchImage(err):
		return fmt.Errorf("%w (%w: check the name and tag)", err, ErrNoSuchImage)
	case unreachable(err):
		return fmt.Errorf("%w (registry unreachable: check the address and your network)", err)
	case unauthorized(err):
		return fmt.Errorf("%w (%w: log in with usandbox login REGISTRY, or check the credentials)", err, ErrUnauthorized)
	case errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("%w (the registry speaks plain http: add --tls-verify=false)", err)
	}
	return err
}

// noSuchImage: the registry knows no such repository or tag (its JSON
// error codes, which the distribution spec defines), or an OCI layout has
// no such tag.
func noSuchImage(err error) bool {
	var ec errcode.ErrorCoder
	if errors.As(err, &ec) {
		switch ec.ErrorCode() {
		case v2.ErrorCodeManifestUnknown, v2.ErrorCodeNameUnknown:
			return true
		}
	}
	var notInLayout layout.ImageNotFoundError
	return errors.As(err, &notInLayout)
}

// unauthorized: the registry wants credentials, or other ones.
func unauthorized(err error) bool {
	var ue docker.ErrUnauthorizedForCredentials
	if errors.As(err, &ue) {
		return true
	}
	var ec errcode.ErrorCoder
	return errors.As(err, &ec) && ec.ErrorCode() == errcode.ErrorCodeUnauthorized
}

// unreachable: no connection to the registry could be made.
func unreachable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) {
		return true
	}
	// A timeout of a dial or a read: *url.Error and *net.OpError say.
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
