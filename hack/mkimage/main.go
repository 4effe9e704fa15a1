// Command mkimage writes a small OCI image layout (and optionally an
// oci-archive) from directories and built-in fixture layers. It is a test
// helper for usandbox: stdlib only, deterministic output (same input -> same
// digests).
//
// Usage:
//
//	mkimage -out DIR -tag TAG [-cmd '["sh"]'] [-env K=V]... \
//	        [-layer-dir DIR | -layer-fixtures NAME]... [-archive FILE]
//
// Layers are applied in the order the -layer-dir / -layer-fixtures flags are
// given (first flag = bottom layer). Fixture names: semantics-base,
// semantics-top, deep-N (N nested directories), numbered-N (files
// /layer-N and /top holding "N"): see fixtures below.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"
	annotationRefName = "org.opencontainers.image.ref.name"
	defaultPath       = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// fixtureTime is the mtime of every fixture entry and of the oci-archive
// entries; it is also the default "created" time of the image.
var fixtureTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// setuidSource is the host file whose bytes become the setuid fixture binary.
var setuidSource = "/bin/true"

// layerSource is one -layer-dir or -layer-fixtures flag, in command-line order.
type layerSource struct {
	kind string // "dir" or "fixtures"
	arg  string
}

// String is used in the config history ("created_by"). Only the base name
// of a directory is used, so the digest does not depend on where it lives.
func (l layerSource) String() string {
	if l.kind == "dir" {
		return "layer-dir " + filepath.Base(filepath.Clean(l.arg))
	}
	return "layer-fixtures " + l.arg
}

// layerFlag appends to a shared ordered list of layer sources.
type layerFlag struct {
	kind string
	list *[]layerSource
}

func (f layerFlag) String() string { return "" }
func (f layerFlag) Set(v string) error {
	*f.list = append(*f.list, layerSource{kind: f.kind, arg: v})
	return nil
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// options describes one image to build.
type options struct {
	Out        string
	Tag        string
	Cmd        []string
	Entrypoint []string
	WorkingDir string
	User       string
	Env        []string
	Volumes    []string
	Labels     []string // KEY=VALUE
	Expose     []string // PORT/PROTO
	StopSignal string
	Layers     []layerSource
	Archive    string
	Created    time.Time
}

// OCI JSON documents (only the fields we write).
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type imageConfig struct {
	Created      string        `json:"created"`
	Architecture string        `json:"architecture"`
	OS           string        `json:"os"`
	Config       runConfig     `json:"config"`
	RootFS       rootFS        `json:"rootfs"`
	History      []historyItem `json:"history"`
}

type runConfig struct {
	User         string              `json:"User,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	// Volumes is the image's VOLUME set (JSON: paths to empty objects).
	Volumes map[string]struct{} `json:"Volumes,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type historyItem struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
	Comment   string `json:"comment,omitempty"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var o options
	var cmdJSON, entrypointJSON string
	var env, volumes, labels, expose stringsFlag
	fl := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fl.StringVar(&o.Out, "out", "", "OCI layout directory to write (created if missing)")
	fl.StringVar(&o.Tag, "tag", "latest", "tag (org.opencontainers.image.ref.name)")
	fl.StringVar(&cmdJSON, "cmd", "", `image Cmd as a JSON array, e.g. '["sh"]'`)
	fl.StringVar(&entrypointJSON, "entrypoint", "", `image Entrypoint as a JSON array`)
	fl.StringVar(&o.WorkingDir, "workdir", "", "image WorkingDir")
	fl.StringVar(&o.User, "user", "", "image User")
	fl.Var(&env, "env", "KEY=VALUE for config.Env (repeatable; PATH is defaulted)")
	fl.Var(&volumes, "volume", "a VOLUME path of the image config (repeatable)")
	fl.Var(&labels, "label", "KEY=VALUE for config.Labels (repeatable)")
	fl.Var(&expose, "expose", "PORT/PROTO for config.ExposedPorts (repeatable)")
	fl.StringVar(&o.StopSignal, "stop-signal", "", "image StopSignal")
	fl.Var(layerFlag{"dir", &o.Layers}, "layer-dir", "directory tarred as one layer (repeatable, ordered)")
	fl.Var(layerFlag{"fixtures", &o.Layers}, "layer-fixtures", "built-in layer: semantics-base | semantics-top | deep-N | numbered-N (repeatable, ordered)")
	fl.StringVar(&o.Archive, "archive", "", "also write an oci-archive (tar of the layout) to FILE")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fl.Args())
	}
	if o.Out == "" {
		return errors.New("-out is required")
	}
	if cmdJSON != "" {
		if err := json.Unmarshal([]byte(cmdJSON), &o.Cmd); err != nil {
			return fmt.Errorf("-cmd must be a JSON array of strings: %w", err)
		}
	}
	if entrypointJSON != "" {
		if err := json.Unmarshal([]byte(entrypointJSON), &o.Entrypoint); err != nil {
			return fmt.Errorf("-entrypoint must be a JSON array of strings: %w", err)
		}
	}
	o.Env, o.Labels, o.Expose = env, labels, expose
	o.Volumes = volumes
	o.Created = fixtureTime
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("bad SOURCE_DATE_EPOCH: %w", err)
		}
		o.Created = time.Unix(n, 0).UTC()
	}
	_, err := build(o)
	return err
}

// build writes the layout and returns the manifest descriptor.
func build(o options) (descriptor, error) {
	if len(o.Layers) == 0 {
		return descriptor{}, errors.New("at least one -layer-dir or -layer-fixtures is required")
	}
	blobDir := filepath.Join(o.Out, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return descriptor{}, err
	}
	created := o.Created.UTC().Format(time.RFC3339)

	cfg := imageConfig{
		Created:      created,
		Architecture: "amd64",
		OS:           "linux",
		Config:       runConfig{Env: withPath(o.Env), Cmd: o.Cmd, Entrypoint: o.Entrypoint, WorkingDir: o.WorkingDir, User: o.User, StopSignal: o.StopSignal},
		RootFS:       rootFS{Type: "layers", DiffIDs: []string{}},
	}
	if len(o.Volumes) > 0 {
		cfg.Config.Volumes = map[string]struct{}{}
		for _, v := range o.Volumes {
			cfg.Config.Volumes[v] = struct{}{}
		}
	}
	var layers []descriptor
	for _, src := range o.Layers {
		desc, diffID, err := writeLayer(blobDir, src)
		if err != nil {
			return descriptor{}, fmt.Errorf("layer %s: %w", src, err)
		}
		layers = append(layers, desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		cfg.History = append(cfg.History, historyItem{
			Created:   created,
			CreatedBy: "mkimage " + src.String(),
			Comment:   "usandbox test image",
		})
	}

	for _, l := range o.Labels {
		k, v, _ := strings.Cut(l, "=")
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		cfg.Config.Labels[k] = v
	}
	for _, p := range o.Expose {
		if cfg.Config.ExposedPorts == nil {
			cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		cfg.Config.ExposedPorts[p] = struct{}{}
	}
	cfgDesc, err := writeJSONBlob(blobDir, mediaTypeConfig, cfg)
	if err != nil {
		return descriptor{}, err
	}
	man := manifest{SchemaVersion: 2, MediaType: mediaTypeManifest, Config: cfgDesc, Layers: layers}
	manDesc, err := writeJSONBlob(blobDir, mediaTypeManifest, man)
	if err != nil {
		return descriptor{}, err
	}
	manDesc.Annotations = map[string]string{annotationRefName: o.Tag}
	manDesc.Platform = &platform{Architecture: "amd64", OS: "linux"}

	// index.json holds exactly this one manifest (any previous one is replaced).
	idx := index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []descriptor{manDesc}}
	idxBytes, err := json.Marshal(idx)
	if err != nil {
		return descriptor{}, err
	}
	if err := writeFileAtomic(filepath.Join(o.Out, "index.json"), idxBytes); err != nil {
		return descriptor{}, err
	}
	if err := writeFileAtomic(filepath.Join(o.Out, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return descriptor{}, err
	}
	if o.Archive != "" {
		if err := writeArchive(o.Out, o.Archive); err != nil {
			return descriptor{}, fmt.Errorf("archive: %w", err)
		}
	}
	return manDesc, nil
}

// withPath returns env with a default PATH appended when none is given.
func withPath(env []string) []string {
	out := append([]string(nil), env...)
	for _, e := range out {
		if strings.HasPrefix(e, "PATH=") {
			return out
		}
	}
	return append(out, defaultPath)
}

// writeLayer streams one layer: tar -> (sha256 = diff_id) -> gzip ->
// (sha256 = blob digest) -> blobs/sha256/<digest>.
func writeLayer(blobDir string, src layerSource) (descriptor, string, error) {
	tmp, err := os.CreateTemp(blobDir, ".layer-*")
	if err != nil {
		return descriptor{}, "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	blobHash := sha256.New()
	counter := &countWriter{}
	gz, err := gzip.NewWriterLevel(io.MultiWriter(tmp, blobHash, counter), gzip.DefaultCompression)
	if err != nil {
		return descriptor{}, "", err
	}
	// gzip header: no name, zero mtime, so output is reproducible.
	diffHash := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, diffHash))

	switch src.kind {
	case "dir":
		err = tarDir(tw, src.arg)
	case "fixtures":
		err = tarFixtures(tw, src.arg)
	default:
		err = fmt.Errorf("unknown layer kind %q", src.kind)
	}
	if err != nil {
		return descriptor{}, "", err
	}
	if err := tw.Close(); err != nil {
		return descriptor{}, "", err
	}
	if err := gz.Close(); err != nil {
		return descriptor{}, "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return descriptor{}, "", err
	}
	if err := tmp.Close(); err != nil {
		return descriptor{}, "", err
	}
	hexDigest := hex.EncodeToString(blobHash.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(blobDir, hexDigest)); err != nil {
		return descriptor{}, "", err
	}
	desc := descriptor{MediaType: mediaTypeLayerGz, Digest: "sha256:" + hexDigest, Size: counter.n}
	return desc, digestOf(diffHash), nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// writeJSONBlob marshals v and stores it as a blob.
func writeJSONBlob(blobDir, mediaType string, v any) (descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	sum := sha256.Sum256(b)
	hexDigest := hex.EncodeToString(sum[:])
	if err := writeFileAtomic(filepath.Join(blobDir, hexDigest), b); err != nil {
		return descriptor{}, err
	}
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hexDigest, Size: int64(len(b))}, nil
}

// writeFileAtomic writes data to a temp file (mode 0644) and renames it.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// tarDir writes every entry below root (not root itself) in lexical walk
// order, keeping uid/gid/mode (incl. setuid/setgid/sticky), mtime (whole
// seconds), symlinks, device nodes and FIFOs. A regular file seen again
// (same dev+inode) becomes a hard link to the first path. Sockets are
// skipped. Like tar --one-file-system, mount points are included but not
// descended into.
func tarDir(tw *tar.Writer, root string) error {
	rootInfo, err := os.Lstat(root)
	if err != nil {
		return err
	}
	if !rootInfo.IsDir() {
		return fmt.Errorf("%s is not a directory", root)
	}
	rootDev := rootInfo.Sys().(*syscall.Stat_t).Dev
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}

	// WalkDir visits entries of each directory in lexical order: reproducible.
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		hdr := &tar.Header{
			Name:    name,
			Mode:    int64(st.Mode & 0o7777),
			Uid:     int(st.Uid),
			Gid:     int(st.Gid),
			ModTime: time.Unix(st.Mtim.Sec, 0),
		}
		var skipDir bool
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			skipDir = uint64(st.Dev) != uint64(rootDev)
		case syscall.S_IFREG:
			key := inode{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := seen[key]; ok && st.Nlink > 1 {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
			} else {
				if st.Nlink > 1 {
					seen[key] = name
				}
				hdr.Typeflag = tar.TypeReg
				hdr.Size = st.Size
			}
		case syscall.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = target
		case syscall.S_IFCHR, syscall.S_IFBLK:
			hdr.Typeflag = tar.TypeChar
			if st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
				hdr.Typeflag = tar.TypeBlock
			}
			hdr.Devmajor = int64(unixMajor(uint64(st.Rdev)))
			hdr.Devminor = int64(unixMinor(uint64(st.Rdev)))
		case syscall.S_IFIFO:
			hdr.Typeflag = tar.TypeFifo
		default: // sockets
			fmt.Fprintf(os.Stderr, "mkimage: skipping socket %s\n", p)
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if err := copyFile(tw, p, hdr.Size); err != nil {
				return err
			}
		}
		if skipDir {
			return fs.SkipDir
		}
		return nil
	})
}

func copyFile(w io.Writer, p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("%s: file changed size while reading", p)
	}
	return nil
}

// Linux dev_t encoding (glibc major/minor).
func unixMajor(dev uint64) uint32 {
	return uint32((dev>>8)&0xfff) | uint32((dev>>32)&0xfffff000)
}

func unixMinor(dev uint64) uint32 {
	return uint32(dev&0xff) | uint32((dev>>12)&0xffffff00)
}

// fixtureEntry is one synthetic tar entry.
type fixtureEntry struct {
	Name     string // no leading slash; directories end in "/"
	Type     byte
	Mode     int64
	Uid, Gid int
	Linkname string
	Data     []byte
}

// Fixture layers for overlay-semantics tests on the Debian image. They are
// written in the order listed (parents before children, lexical inside a
// directory).
//
// semantics-base (below the top):
//
//	/usandbox-fixtures/doomed.txt          "doomed\n"   (deleted by top)
//	/usandbox-fixtures/keep.txt            "keep\n"
//	/usandbox-fixtures/opaque/old1.txt     "old\n"      (hidden by top)
//	/usandbox-fixtures/opaque/old2.txt     "old\n"      (hidden by top)
//
// volume-data: /data (1000:1000 0750) with file.txt (1000, 0640),
// owned-65534.txt (0600), sub/ (0700) holding deep.txt, and link ->
// file.txt, for the volume copy-up tests.
//
// semantics-top (top layer):
//
//	/etc/.wh.motd                          whiteout of Debian's /etc/motd
//	/usandbox-fixtures/.wh.doomed.txt      whiteout of doomed.txt
//	/usandbox-fixtures/dir-1000/           1000:1000 0750
//	/usandbox-fixtures/hardlink-a.txt      "linked\n"
//	/usandbox-fixtures/hardlink-b.txt      hard link -> hardlink-a.txt
//	/usandbox-fixtures/opaque/.wh..wh..opq opaque marker (old1/old2 vanish)
//	/usandbox-fixtures/opaque/new.txt      "new\n"
//	/usandbox-fixtures/owned-1000.txt      1000:1000 "u1000\n"
//	/usandbox-fixtures/owned-65534.txt     65534:65534 "u65534\n"
//	/usandbox-fixtures/setuid-bin          bytes of host /bin/true, 04755 root
//	/usandbox-fixtures/symlink             -> keep.txt
func fixtures(name string) ([]fixtureEntry, error) {
	const d = "usandbox-fixtures/"
	dir := func(n string, mode int64, id int) fixtureEntry {
		return fixtureEntry{Name: n, Type: tar.TypeDir, Mode: mode, Uid: id, Gid: id}
	}
	file := func(n, data string, mode int64, id int) fixtureEntry {
		return fixtureEntry{Name: n, Type: tar.TypeReg, Mode: mode, Uid: id, Gid: id, Data: []byte(data)}
	}
	switch name {
	case "semantics-base":
		return []fixtureEntry{
			dir(d, 0o755, 0),
			file(d+"doomed.txt", "doomed\n", 0o644, 0),
			file(d+"keep.txt", "keep\n", 0o644, 0),
			dir(d+"opaque/", 0o755, 0),
			file(d+"opaque/old1.txt", "old\n", 0o644, 0),
			file(d+"opaque/old2.txt", "old\n", 0o644, 0),
		}, nil
	case "semantics-top":
		bin, err := os.ReadFile(setuidSource)
		if err != nil {
			return nil, fmt.Errorf("setuid fixture: %w", err)
		}
		return []fixtureEntry{
			// /etc is repeated (as in docker-built layers) so the whiteout
			// has its parent in the same layer; metadata matches Debian's.
			dir("etc/", 0o755, 0),
			file("etc/.wh.motd", "", 0o644, 0),
			dir(d, 0o755, 0),
			file(d+".wh.doomed.txt", "", 0o644, 0),
			dir(d+"dir-1000/", 0o750, 1000),
			file(d+"hardlink-a.txt", "linked\n", 0o644, 0),
			{Name: d + "hardlink-b.txt", Type: tar.TypeLink, Mode: 0o644, Linkname: d + "hardlink-a.txt"},
			dir(d+"opaque/", 0o755, 0),
			file(d+"opaque/.wh..wh..opq", "", 0o644, 0),
			file(d+"opaque/new.txt", "new\n", 0o644, 0),
			file(d+"owned-1000.txt", "u1000\n", 0o644, 1000),
			file(d+"owned-65534.txt", "u65534\n", 0o644, 65534),
			{Name: d + "setuid-bin", Type: tar.TypeReg, Mode: 0o4755, Data: bin},
			{Name: d + "symlink", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "keep.txt"},
		}, nil
	case "volume-data":
		// Content under a VOLUME path (-volume /data), with owners and
		// modes that a copy-up must keep.
		return []fixtureEntry{
			dir("data/", 0o750, 1000),
			file("data/file.txt", "from-image\n", 0o640, 1000),
			file("data/owned-65534.txt", "u65534\n", 0o600, 65534),
			dir("data/sub/", 0o700, 0),
			file("data/sub/deep.txt", "deep\n", 0o644, 0),
			{Name: "data/link", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "file.txt"},
		}, nil
	}
	if n, ok := fixtureNumber(name, "deep-"); ok {
		return deepTree(n)
	}
	if n, ok := fixtureNumber(name, "numbered-"); ok {
		return []fixtureEntry{
			file(fmt.Sprintf("layer-%d", n), fmt.Sprintf("%d\n", n), 0o644, 0),
			file("top", fmt.Sprintf("%d\n", n), 0o644, 0),
		}, nil
	}
	return nil, fmt.Errorf("unknown fixture layer %q (want semantics-base, semantics-top, volume-data, deep-N or numbered-N)", name)
}

// fixtureNumber parses the N of a fixture name PREFIX+N.
func fixtureNumber(name, prefix string) (int, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// deepTree is n directories nested in one another, "d/d/d/…/", with a file
// "end" in the innermost. Names are one character so that the full path
// (2n+3 bytes) stays under PATH_MAX for n up to 2046.
func deepTree(n int) ([]fixtureEntry, error) {
	if n < 1 || 2*n+3 >= 4096 {
		return nil, fmt.Errorf("deep-%d: depth must be 1 to 2046 (a full path must fit in PATH_MAX)", n)
	}
	out := make([]fixtureEntry, 0, n+1)
	p := ""
	for range n {
		p += "d/"
		out = append(out, fixtureEntry{Name: p, Type: tar.TypeDir, Mode: 0o755})
	}
	out = append(out, fixtureEntry{Name: p + "end", Type: tar.TypeReg, Mode: 0o644, Data: []byte("end\n")})
	return out, nil
}

func tarFixtures(tw *tar.Writer, name string) error {
	entries, err := fixtures(name)
	if err != nil {
		return err
	}
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.Name,
			Typeflag: e.Type,
			Mode:     e.Mode,
			Uid:      e.Uid,
			Gid:      e.Gid,
			Linkname: e.Linkname,
			ModTime:  fixtureTime,
		}
		if e.Type == tar.TypeReg {
			hdr.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			return err
		}
	}
	return nil
}

// writeArchive writes an oci-archive: an uncompressed tar holding the layout
// directory's contents (oci-layout, index.json, blobs/sha256/*) at its root,
// with fixed metadata. Only blobs referenced by index.json are included.
func writeArchive(layout, archive string) error {
	names := []string{"oci-layout", "index.json"}
	blobs, err := referencedBlobs(layout)
	if err != nil {
		return err
	}
	for _, b := range blobs {
		names = append(names, path.Join("blobs", "sha256", b))
	}

	tmp, err := os.CreateTemp(filepath.Dir(archive), ".archive-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	tw := tar.NewWriter(tmp)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: fixtureTime}); err != nil {
			return err
		}
	}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(layout, filepath.FromSlash(n)))
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size(), ModTime: fixtureTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := copyFile(tw, filepath.Join(layout, filepath.FromSlash(n)), fi.Size()); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), archive)
}

// referencedBlobs returns the sorted hex digests reachable from index.json.
func referencedBlobs(layout string) ([]string, error) {
	var idx index
	if err := readJSON(filepath.Join(layout, "index.json"), &idx); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, m := range idx.Manifests {
		h := strings.TrimPrefix(m.Digest, "sha256:")
		set[h] = true
		var man manifest
		if err := readJSON(filepath.Join(layout, "blobs", "sha256", h), &man); err != nil {
			return nil, err
		}
		set[strings.TrimPrefix(man.Config.Digest, "sha256:")] = true
		for _, l := range man.Layers {
			set[strings.TrimPrefix(l.Digest, "sha256:")] = true
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out, nil
}

func readJSON(name string, v any) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	return dec.Decode(v)
}
