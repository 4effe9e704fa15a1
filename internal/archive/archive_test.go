package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func names(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name)
	}
	sort.Strings(out)
	return out
}

func tree(t *testing.T) (root, outside string) {
	t.Helper()
	outside = t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host\n"), 0o600)
	root = t.TempDir()
	os.MkdirAll(filepath.Join(root, "d", "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "d", "f"), []byte("f\n"), 0o644)
	os.WriteFile(filepath.Join(root, "secret"), []byte("inside\n"), 0o644)
	os.Symlink("/", filepath.Join(root, "x"))
	os.Symlink("../../../../../../..", filepath.Join(root, "up"))
	os.Symlink(outside, filepath.Join(root, "out"))
	return root, outside
}

func TestArchiveNames(t *testing.T) {
	dir, _ := tree(t)
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		path string
		want string
	}{
		{"/d", "d/ d/f d/sub/"},
		{"/d/", "d/ d/f d/sub/"},
		{"/d/.", "./ ./f ./sub/"},
		{"/x/d/f", "f"},
		{"/x", "x"}, // the link itself
	} {
		var b bytes.Buffer
		if err := r.Archive(&b, c.path, ArchiveOptions{}); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if got := strings.Join(names(t, b.Bytes()), " "); got != c.want {
			t.Errorf("%s: %q, want %q", c.path, got, c.want)
		}
	}
}

// TestResolvedInRoot: symlinks to /, up and a host path resolve inside
// the root, for reading and writing.
func TestResolvedInRoot(t *testing.T) {
	dir, outside := tree(t)
	r, _ := OpenRoot(dir)
	defer r.Close()
	for _, p := range []string{"/x/secret", "/up/secret", "/x/../../secret"} {
		var b bytes.Buffer
		if err := r.Archive(&b, p, ArchiveOptions{}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if bytes.Contains(b.Bytes(), []byte("host\n")) || !bytes.Contains(b.Bytes(), []byte("inside\n")) {
			t.Errorf("%s read outside the root", p)
		}
	}
	if _, err := r.Stat("/out/secret"); err == nil {
		t.Errorf("/out/secret found: the host path was followed")
	}
	if st, err := r.Stat("/out"); err != nil || st.LinkTarget != outside {
		// Lexically inside the root: a path of the root named like the host's.
		t.Logf("LinkTarget %q %v", st.LinkTarget, err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []tar.Header{
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside},
		{Name: "l/evil", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644},
	} {
		tw.WriteHeader(&h)
		if h.Size > 0 {
			tw.Write([]byte("x\n"))
		}
	}
	tw.Close()
	r.Extract(bytes.NewReader(b.Bytes()), "/", ExtractOptions{})
	for _, dest := range []string{"/x", "/up", "/out"} {
		r.Extract(bytes.NewReader(b.Bytes()), dest, ExtractOptions{})
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("written outside the root: %v", ents)
	}
	var climb bytes.Buffer
	tw = tar.NewWriter(&climb)
	tw.WriteHeader(&tar.Header{Name: "../../evil", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	if err := r.Extract(&climb, "/d", ExtractOptions{}); err == nil {
		t.Errorf("a name climbing out was taken")
	}
}

func TestExtractOverwrite(t *testing.T) {
	dir, _ := tree(t)
	r, _ := OpenRoot(dir)
	defer r.Close()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "sub", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	if err := r.Extract(bytes.NewReader(b.Bytes()), "/d", ExtractOptions{NoOverwriteDirNonDir: true}); err == nil || !strings.Contains(err.Error(), "cannot overwrite directory") {
		t.Errorf("noOverwriteDirNonDir: %v", err)
	}
	if err := r.Extract(bytes.NewReader(b.Bytes()), "/d", ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "d", "sub")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("d/sub: %v %v", fi, err)
	}
	if err := r.Extract(bytes.NewReader(b.Bytes()), "/d/f", ExtractOptions{}); err != ErrNotDir {
		t.Errorf("extracting into a file: %v", err)
	}
}

func TestRebase(t *testing.T) {
	for _, c := range []struct{ name, old, new, want string }{
		{"d/", "d", "e", "e/"}, {"d/a/d", "d", "e", "e/a/d"}, {"./", ".", "e", "e/"}, {"./x.txt", ".", "e", "e/x.txt"}, {"dd/x", "d", "e", "dd/x"},
	} {
		if got := rebase(c.name, c.old, c.new); got != c.want {
			t.Errorf("rebase(%q, %q, %q) = %q, want %q", c.name, c.old, c.new, got, c.want)
		}
	}
}
