package storage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"
)

func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Linkname))
		}
		data := ""
		if h.Typeflag == tar.TypeReg {
			data, h.Linkname = h.Linkname, ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	return b.Bytes()
}

func extract(t *testing.T, b []byte) (string, error) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := (&tarDiffer{tar: bytes.NewReader(b)}).ApplyDiff(dest, &archive.TarOptions{WhiteoutFormat: archive.OverlayWhiteoutFormat}, nil)
	if err == nil {
		defer out.TarSplit.Close()
		if out.Size != int64(len(b)) || out.UncompressedDigest != digest.NewDigestFromBytes(digest.SHA256, sha256Sum(b)) {
			t.Errorf("size %d digest %s, want %d bytes", out.Size, out.UncompressedDigest, len(b))
		}
		if st, _ := out.TarSplit.Stat(); st.Size() == 0 {
			t.Error("no tar-split record")
		}
	}
	return dest, err
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestExtract(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown to other IDs needs root (or run it in a user namespace)")
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	dir := func(n string, mode int64, uid int) *tar.Header {
		return &tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: uid, ModTime: mt}
	}
	file := func(n, data string, mode int64, uid int) *tar.Header {
		return &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode, Uid: uid, Gid: uid, Linkname: data, ModTime: mt}
	}
	b := tarOf(t,
		&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		dir("a/", 0o750, 1000),
		file("a/b/c/f", "f\n", 0o4755, 0), // parents made on the way, then given by later entries
		dir("a/b/", 0o700, 1000),
		file("x", "x\n", 0o644, 65534),
		&tar.Header{Name: "a/link", Typeflag: tar.TypeLink, Linkname: "a/b/c/f", ModTime: mt},
		&tar.Header{Name: "sym", Typeflag: tar.TypeSymlink, Linkname: "a", Mode: 0o777, ModTime: mt},
		file("a/.wh.gone", "", 0o644, 0),
		file("a/b/.wh..wh..opq", "", 0o644, 0),
		file("a/b/c/f2", "", 0o644, 0), // back into a directory left before
	)
	dest, err := extract(t, b)
	if err != nil {
		t.Fatal(err)
	}
	st := func(p string) unix.Stat_t {
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(dest, p), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := st("a"); s.Uid != 1000 || s.Mode&0o7777 != 0o750 || s.Mtim.Sec != mt.Unix() {
		t.Errorf("a: uid %d mode %o mtime %d", s.Uid, s.Mode&0o7777, s.Mtim.Sec)
	}
	if s := st("a/b"); s.Uid != 1000 || s.Mode&0o7777 != 0o700 || s.Mtim.Sec != mt.Unix() {
		t.Errorf("a/b: uid %d mode %o mtime %d", s.Uid, s.Mode&0o7777, s.Mtim.Sec)
	}
	if s := st("."); s.Mtim.Sec != mt.Unix() {
		t.Errorf("root mtime %d", s.Mtim.Sec)
	}
	if s := st("a/b/c/f"); s.Mode&0o7777 != 0o4755 || s.Nlink != 2 {
		t.Errorf("a/b/c/f: mode %o nlink %d", s.Mode&0o7777, s.Nlink)
	}
	if s := st("x"); s.Uid != 65534 || s.Gid != 65534 {
		t.Errorf("x: %d:%d", s.Uid, s.Gid)
	}
	if l, err := os.Readlink(filepath.Join(dest, "sym")); err != nil || l != "a" {
		t.Errorf("sym -> %q %v", l, err)
	}
	if s := st("a/gone"); s.Mode&unix.S_IFMT != unix.S_IFCHR || s.Rdev != 0 {
		t.Errorf("whiteout: mode %o rdev %d", s.Mode, s.Rdev)
	}
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(filepath.Join(dest, "a/b"), archive.GetOverlayXattrName("opaque"), buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque: %q %v", buf[:n], err)
	}
}

// Nothing is written outside the layer: not through "..", not through a
// symlink of the layer itself.
func TestExtractStaysInside(t *testing.T) {
	outside := t.TempDir()
	for _, tt := range []struct {
		name string
		hdrs []*tar.Header
		want string
	}{
		{"dot-dot", []*tar.Header{{Name: "../escaped", Typeflag: tar.TypeReg, Mode: 0o644}}, "outside of the layer"},
		{"symlink parent", []*tar.Header{
			{Name: "s", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "s/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		}, "symlink"},
		{"hard link out", []*tar.Header{
			{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
			{Name: "passwd", Typeflag: tar.TypeLink, Linkname: "s/passwd"},
		}, "hard link"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := extract(t, tarOf(t, tt.hdrs...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("wrote outside: %v", ents)
			}
		})
	}
}
