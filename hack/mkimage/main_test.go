package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// entry is what the test checks for one tar header.
type entry struct {
	typ      byte
	uid, gid int
	mode     int64
	linkname string
	data     string // checked only when non-empty
}

// layoutResult is a parsed OCI layout.
type layoutResult struct {
	manDigest string
	man       manifest
	cfg       imageConfig
	layers    []map[string]entry // per layer: tar name -> entry
	order     [][]string         // per layer: tar names in order
}

// makeLayerDir creates a small tree with a symlink, a hard link pair, a
// setuid file and a private directory.
func makeLayerDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(os.Mkdir(filepath.Join(dir, "private"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "bin", "tool"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(filepath.Join(dir, "bin", "tool"), 0o755|os.ModeSetuid)) // os.Chmod ignores raw 04000
	must(os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello\n"), 0o644))
	must(os.Link(filepath.Join(dir, "a.txt"), filepath.Join(dir, "z-link.txt")))
	must(os.Symlink("a.txt", filepath.Join(dir, "sym")))
	return dir
}

func buildTest(t *testing.T, layerDir, out, archive string) descriptor {
	t.Helper()
	desc, err := build(options{
		Out:     out,
		Tag:     "testtag",
		Cmd:     []string{"sh"},
		Env:     []string{"FOO=bar"},
		Archive: archive,
		Created: fixtureTime,
		Layers: []layerSource{
			{kind: "dir", arg: layerDir},
			{kind: "fixtures", arg: "semantics-base"},
			{kind: "fixtures", arg: "semantics-top"},
		},
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return desc
}

func readLayout(t *testing.T, out string) layoutResult {
	t.Helper()
	var r layoutResult

	var layoutFile map[string]string
	if err := readJSON(filepath.Join(out, "oci-layout"), &layoutFile); err != nil || layoutFile["imageLayoutVersion"] != "1.0.0" {
		t.Fatalf("oci-layout: %v %v", layoutFile, err)
	}

	// Every blob's sha256 matches its file name.
	blobDir := filepath.Join(out, "blobs", "sha256")
	ents, err := os.ReadDir(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(blobDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("blob %s has sha256 %x", e.Name(), sum)
		}
	}

	var idx index
	if err := readJSON(filepath.Join(out, "index.json"), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != mediaTypeIndex || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %+v", idx)
	}
	md := idx.Manifests[0]
	if md.MediaType != mediaTypeManifest || md.Annotations[annotationRefName] != "testtag" {
		t.Fatalf("index manifest descriptor: %+v", md)
	}
	r.manDigest = md.Digest
	checkBlob(t, out, md)
	if err := readJSON(blobPath(out, md.Digest), &r.man); err != nil {
		t.Fatal(err)
	}
	if r.man.SchemaVersion != 2 || r.man.MediaType != mediaTypeManifest || r.man.Config.MediaType != mediaTypeConfig {
		t.Fatalf("manifest: %+v", r.man)
	}
	checkBlob(t, out, r.man.Config)
	if err := readJSON(blobPath(out, r.man.Config.Digest), &r.cfg); err != nil {
		t.Fatal(err)
	}
	if len(r.cfg.RootFS.DiffIDs) != len(r.man.Layers) || len(r.cfg.History) != len(r.man.Layers) {
		t.Fatalf("diff_ids %d / history %d / layers %d", len(r.cfg.RootFS.DiffIDs), len(r.cfg.History), len(r.man.Layers))
	}

	for i, l := range r.man.Layers {
		if l.MediaType != mediaTypeLayerGz {
			t.Errorf("layer %d media type %q", i, l.MediaType)
		}
		checkBlob(t, out, l)
		f, err := os.Open(blobPath(out, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != r.cfg.RootFS.DiffIDs[i] {
			t.Errorf("layer %d diff_id %s, config says %s", i, got, r.cfg.RootFS.DiffIDs[i])
		}
		m := map[string]entry{}
		var order []string
		tr := tar.NewReader(bytes.NewReader(raw))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			if _, dup := m[h.Name]; dup {
				t.Errorf("layer %d: duplicate entry %s", i, h.Name)
			}
			m[h.Name] = entry{typ: h.Typeflag, uid: h.Uid, gid: h.Gid, mode: h.Mode, linkname: h.Linkname, data: string(data)}
			order = append(order, h.Name)
		}
		r.layers = append(r.layers, m)
		r.order = append(r.order, order)
	}
	return r
}

func blobPath(out, digest string) string {
	return filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func checkBlob(t *testing.T, out string, d descriptor) {
	t.Helper()
	fi, err := os.Stat(blobPath(out, d.Digest))
	if err != nil {
		t.Fatalf("descriptor %s: %v", d.Digest, err)
	}
	if fi.Size() != d.Size {
		t.Errorf("blob %s size %d, descriptor says %d", d.Digest, fi.Size(), d.Size)
	}
}

func TestBuildLayout(t *testing.T) {
	layerDir := makeLayerDir(t)
	out := filepath.Join(t.TempDir(), "layout")
	archive := filepath.Join(t.TempDir(), "image.tar")
	desc := buildTest(t, layerDir, out, archive)
	r := readLayout(t, out)

	if desc.Digest != r.manDigest {
		t.Errorf("build returned %s, index.json has %s", desc.Digest, r.manDigest)
	}
	if len(r.man.Layers) != 3 {
		t.Fatalf("want 3 layers, got %d", len(r.man.Layers))
	}
	if r.cfg.Architecture != "amd64" || r.cfg.OS != "linux" || r.cfg.RootFS.Type != "layers" {
		t.Errorf("config platform/rootfs: %+v", r.cfg)
	}
	if strings.Join(r.cfg.Config.Cmd, " ") != "sh" {
		t.Errorf("Cmd = %q", r.cfg.Config.Cmd)
	}
	if want := []string{"FOO=bar", defaultPath}; strings.Join(r.cfg.Config.Env, "\n") != strings.Join(want, "\n") {
		t.Errorf("Env = %q, want %q", r.cfg.Config.Env, want)
	}

	uid, gid := os.Getuid(), os.Getgid()
	const fx = "usandbox-fixtures/"
	tests := []struct {
		layer int
		name  string
		want  entry
	}{
		// layer 0: the temp directory
		{0, "a.txt", entry{typ: tar.TypeReg, uid: uid, gid: gid, mode: 0o644, data: "hello\n"}},
		{0, "bin/", entry{typ: tar.TypeDir, uid: uid, gid: gid, mode: 0o755}},
		{0, "bin/tool", entry{typ: tar.TypeReg, uid: uid, gid: gid, mode: 0o4755, data: "#!/bin/sh\n"}},
		{0, "private/", entry{typ: tar.TypeDir, uid: uid, gid: gid, mode: 0o700}},
		{0, "sym", entry{typ: tar.TypeSymlink, uid: uid, gid: gid, mode: 0o777, linkname: "a.txt"}},
		{0, "z-link.txt", entry{typ: tar.TypeLink, uid: uid, gid: gid, mode: 0o644, linkname: "a.txt"}},
		// layer 1: semantics-base
		{1, fx, entry{typ: tar.TypeDir, mode: 0o755}},
		{1, fx + "doomed.txt", entry{typ: tar.TypeReg, mode: 0o644, data: "doomed\n"}},
		{1, fx + "keep.txt", entry{typ: tar.TypeReg, mode: 0o644, data: "keep\n"}},
		{1, fx + "opaque/", entry{typ: tar.TypeDir, mode: 0o755}},
		{1, fx + "opaque/old1.txt", entry{typ: tar.TypeReg, mode: 0o644, data: "old\n"}},
		{1, fx + "opaque/old2.txt", entry{typ: tar.TypeReg, mode: 0o644, data: "old\n"}},
		// layer 2: semantics-top
		{2, "etc/", entry{typ: tar.TypeDir, mode: 0o755}},
		{2, "etc/.wh.motd", entry{typ: tar.TypeReg, mode: 0o644}},
		{2, fx + ".wh.doomed.txt", entry{typ: tar.TypeReg, mode: 0o644}},
		{2, fx + "owned-1000.txt", entry{typ: tar.TypeReg, uid: 1000, gid: 1000, mode: 0o644, data: "u1000\n"}},
		{2, fx + "owned-65534.txt", entry{typ: tar.TypeReg, uid: 65534, gid: 65534, mode: 0o644}},
		{2, fx + "setuid-bin", entry{typ: tar.TypeReg, mode: 0o4755}},
		{2, fx + "hardlink-a.txt", entry{typ: tar.TypeReg, mode: 0o644, data: "linked\n"}},
		{2, fx + "hardlink-b.txt", entry{typ: tar.TypeLink, mode: 0o644, linkname: fx + "hardlink-a.txt"}},
		{2, fx + "symlink", entry{typ: tar.TypeSymlink, mode: 0o777, linkname: "keep.txt"}},
		{2, fx + "opaque/", entry{typ: tar.TypeDir, mode: 0o755}},
		{2, fx + "opaque/.wh..wh..opq", entry{typ: tar.TypeReg, mode: 0o644}},
		{2, fx + "opaque/new.txt", entry{typ: tar.TypeReg, mode: 0o644, data: "new\n"}},
		{2, fx + "dir-1000/", entry{typ: tar.TypeDir, uid: 1000, gid: 1000, mode: 0o750}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := r.layers[tc.layer][tc.name]
			if !ok {
				t.Fatalf("layer %d has no entry %q (has %q)", tc.layer, tc.name, r.order[tc.layer])
			}
			want := tc.want
			if want.data == "" {
				got.data = ""
			}
			if got != want {
				t.Errorf("layer %d %s:\n got %+v\nwant %+v", tc.layer, tc.name, got, want)
			}
		})
	}

	// The setuid fixture is a byte copy of the host's /bin/true.
	host, err := os.ReadFile(setuidSource)
	if err != nil {
		t.Fatal(err)
	}
	if r.layers[2][fx+"setuid-bin"].data != string(host) {
		t.Errorf("setuid-bin differs from %s", setuidSource)
	}
	// Within each layer: parents come before children and hardlink targets
	// before links.
	for i, order := range r.order {
		pos := map[string]int{}
		for j, n := range order {
			pos[n] = j
		}
		for j, n := range order {
			parent := filepath.Dir(strings.TrimSuffix(n, "/"))
			if parent != "." {
				if p, ok := pos[parent+"/"]; ok && p > j {
					t.Errorf("layer %d: %s before its parent", i, n)
				}
			}
			if e := r.layers[i][n]; e.typ == tar.TypeLink && pos[e.linkname] > j {
				t.Errorf("layer %d: hard link %s before target %s", i, n, e.linkname)
			}
		}
	}

	// The oci-archive holds the layout files at its root.
	checkArchive(t, out, archive)

	// Same input -> same digests and same archive bytes.
	out2 := filepath.Join(t.TempDir(), "layout")
	archive2 := filepath.Join(t.TempDir(), "image.tar")
	if desc2 := buildTest(t, layerDir, out2, archive2); desc2.Digest != desc.Digest {
		t.Errorf("not reproducible: %s vs %s", desc.Digest, desc2.Digest)
	}
	a1, _ := os.ReadFile(archive)
	a2, _ := os.ReadFile(archive2)
	if !bytes.Equal(a1, a2) {
		t.Error("oci-archive not reproducible")
	}
}

func checkArchive(t *testing.T, out, archive string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, _ := io.ReadAll(tr)
		disk, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(h.Name)))
		if err != nil || !bytes.Equal(data, disk) {
			t.Errorf("archive entry %s differs from layout (%v)", h.Name, err)
		}
		got = append(got, h.Name)
	}
	var want []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			want = append(want, filepath.ToSlash(rel))
		}
		return err
	})
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("archive entries %q, layout files %q", got, want)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no out", []string{"-layer-fixtures", "semantics-base"}, "-out is required"},
		{"no layers", []string{"-out", "X"}, "at least one"},
		{"bad cmd", []string{"-out", "X", "-cmd", "sh", "-layer-fixtures", "semantics-base"}, "JSON array"},
		{"bad fixture", []string{"-out", "X", "-layer-fixtures", "nope"}, "unknown fixture"},
		{"too deep", []string{"-out", "X", "-layer-fixtures", "deep-2047"}, "PATH_MAX"},
		{"ok", []string{"-out", "X", "-tag", "v1", "-cmd", `["sh","-c","true"]`, "-env", "A=1", "-layer-fixtures", "semantics-base", "-layer-fixtures", "semantics-top"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "X" {
					args[i] = filepath.Join(dir, "out")
				}
			}
			err := run(args)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				var idx index
				if err := readJSON(filepath.Join(dir, "out", "index.json"), &idx); err != nil {
					t.Fatal(err)
				}
				var man manifest
				if err := readJSON(blobPath(filepath.Join(dir, "out"), idx.Manifests[0].Digest), &man); err != nil {
					t.Fatal(err)
				}
				var cfg imageConfig
				if err := readJSON(blobPath(filepath.Join(dir, "out"), man.Config.Digest), &cfg); err != nil {
					t.Fatal(err)
				}
				if idx.Manifests[0].Annotations[annotationRefName] != "v1" || len(man.Layers) != 2 ||
					!strings.HasPrefix(cfg.History[0].CreatedBy, "mkimage layer-fixtures semantics-base") ||
					strings.Join(cfg.Config.Cmd, " ") != "sh -c true" {
					t.Errorf("unexpected result: %+v %+v %+v", idx, man, cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestNumberedFixtures(t *testing.T) {
	deep, err := fixtures("deep-2000")
	if err != nil {
		t.Fatal(err)
	}
	if len(deep) != 2001 || deep[1999].Name != strings.Repeat("d/", 2000) || deep[2000].Name != strings.Repeat("d/", 2000)+"end" {
		t.Errorf("deep-2000: %d entries, last %q", len(deep), deep[len(deep)-1].Name)
	}
	n, err := fixtures("numbered-7")
	if err != nil {
		t.Fatal(err)
	}
	if len(n) != 2 || n[0].Name != "layer-7" || n[1].Name != "top" || string(n[1].Data) != "7\n" {
		t.Errorf("numbered-7: %+v", n)
	}
}
