package build

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"usandbox/storage/index"
)

// needRoot skips where chown to other IDs is not allowed.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("Apply chowns what it copies: needs root (or the user namespace of usandbox-image)")
	}
}

// TestApplyStaysInRoot: symlinks of the new root (to /, to a host path,
// up with ..) are followed inside it; nothing is written on the host.
func TestApplyStaysInRoot(t *testing.T) {
	needRoot(t)
	host := t.TempDir()
	root := t.TempDir()
	for name, target := range map[string]string{"up": "/", "hostdir": host, "dots": "../../../../../../../.."} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := writeTree(t, map[string]string{"f.txt": "data", "sub/g": "g"})
	for _, dest := range []string{"/up" + host + "/a", "/hostdir/b", "/dots" + host + "/c", "/hostdir/sub/"} {
		src := "f.txt"
		if strings.HasSuffix(dest, "/") {
			src = "sub"
		}
		if err := Apply(root, ctx, index.CopyOp{Src: []string{src}, Dest: dest, Chown: "7:8"}); err != nil {
			t.Fatalf("COPY %s %s: %v", src, dest, err)
		}
	}
	if ents, _ := os.ReadDir(host); len(ents) > 0 {
		t.Fatalf("Apply wrote on the host: %v", ents)
	}
	for _, p := range []string{"a", "b", "c", "sub/g"} {
		fi, err := os.Lstat(filepath.Join(root, host, p))
		if err != nil {
			t.Errorf("%s not in the root: %v", p, err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 7 || st.Gid != 8 {
			t.Errorf("%s: owner %d:%d, want --chown 7:8", p, st.Uid, st.Gid)
		}
	}
}

// TestApplyExtractStaysInRoot: ADD of an archive whose entries climb out
// or write through their own symlinks stays in the root.
func TestApplyExtractStaysInRoot(t *testing.T) {
	needRoot(t)
	host := t.TempDir()
	root := t.TempDir()
	ctx := t.TempDir()
	f, err := os.Create(filepath.Join(ctx, "evil.tar"))
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "../../../../../.." + host + "/climb", Typeflag: tar.TypeReg}, "x")
	add(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: host}, "")
	add(&tar.Header{Name: "link/through", Typeflag: tar.TypeReg}, "x")
	add(&tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../../../etc/passwd"}, "")
	tw.Close()
	f.Close()
	err = Apply(root, ctx, index.CopyOp{Src: []string{"evil.tar"}, Dest: "/x/", Extract: true})
	if ents, _ := os.ReadDir(host); len(ents) > 0 {
		t.Fatalf("ADD wrote on the host: %v (Apply: %v)", ents, err)
	}
	if b, rerr := os.ReadFile(filepath.Join(root, "x", "hard")); rerr == nil && strings.Contains(string(b), "root:") {
		t.Fatalf("a hard link entry copied the host's /etc/passwd into the root")
	}
}
