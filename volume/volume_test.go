package volume

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"usandbox/storage/index"
)

func TestCheckName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"data", true}, {"a.b-c_d", true}, {"0", true},
		{"", false}, {".", false}, {"..", false}, {".hidden", false}, {"-x", false},
		{"a/b", false}, {"../etc", false}, {"/abs", false}, {"a b", false}, {"a:b", false},
	} {
		err := CheckName(tt.name)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%q: %v", tt.name, err)
		}
	}
}

func TestCreateLoadDetach(t *testing.T) {
	p := index.Paths{Root: t.TempDir()}
	v, err := Create(p, CreateOptions{Name: "v1", Labels: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(p.Root, "volumes", "v1", "_data") || !v.NeedsCopyUp {
		t.Fatalf("%+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("_data: %v %v", fi, err)
	}
	if _, err := Create(p, CreateOptions{Name: "v1"}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	anon, err := Create(p, CreateOptions{Anonymous: true})
	if err != nil || len(anon.Name) != 64 || !anon.Anonymous {
		t.Fatalf("anonymous: %+v %v", anon, err)
	}
	os.Remove(filepath.Join(p.Root, "volumes", "v1", CopyUpMarker))
	got, err := Load(p, "v1")
	if err != nil || got.Labels["k"] != "v" || got.NeedsCopyUp {
		t.Fatalf("load: %+v %v", got, err)
	}
	if _, err := Load(p, "../volumes/v1"); !errors.Is(err, ErrNoSuchVolume) {
		t.Fatalf("a path as a name: %v", err)
	}
	list, _ := List(p)
	if len(list) != 2 {
		t.Fatalf("list: %v", list)
	}
	dir, err := Detach(p, "v1")
	if err != nil || !IsVolumeDir(dir) {
		t.Fatalf("detach: %q %v", dir, err)
	}
	if _, err := Load(p, "v1"); !errors.Is(err, ErrNoSuchVolume) {
		t.Fatalf("detached volume still found: %v", err)
	}
	if l := Leftovers(p); len(l) != 1 || l[0] != dir {
		t.Fatalf("leftovers: %q", l)
	}
	if IsVolumeDir(filepath.Join(p.Root, "volumes", "v2")) || IsVolumeDir("/home/u/.removing-x") {
		t.Fatal("IsVolumeDir takes a live volume or another directory")
	}
}
