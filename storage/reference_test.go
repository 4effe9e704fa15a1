package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.podman.io/image/v5/types"
)

// noRegistriesConf makes tests independent of the host's registries.conf.
func noRegistriesConf(t *testing.T) *types.SystemContext {
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	return &types.SystemContext{SystemRegistriesConfPath: conf, SystemRegistriesConfDirPath: dir + "/none"}
}

func TestResolveSources(t *testing.T) {
	sys := noRegistriesConf(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in        string
		transport string
		name      string
		err       string
	}{
		{"busybox", "docker", "docker.io/library/busybox:latest", ""},
		{"debian:bookworm", "docker", "docker.io/library/debian:bookworm", ""},
		{"quay.io/podman/hello", "docker", "quay.io/podman/hello:latest", ""},
		{"127.0.0.1:5000/busybox:1", "docker", "127.0.0.1:5000/busybox:1", ""},
		{"localhost/x", "docker", "localhost/x:latest", ""},
		{"docker://127.0.0.1:5000/debian:bookworm", "docker", "127.0.0.1:5000/debian:bookworm", ""},
		{"oci:/images/busybox:latest", "oci", "localhost/busybox:latest", ""},
		{"oci:/images/busybox", "oci", "localhost/busybox:latest", ""},
		{"oci:/images/debian:bookworm", "oci", "localhost/debian:bookworm", ""},
		{"oci:/images/layout:debian:12", "oci", "localhost/debian:12", ""},
		{"oci-archive:/images/busybox.tar", "oci-archive", "localhost/busybox:latest", ""},
		{"dir:/images/thing", "dir", "localhost/thing:latest", ""},
		{"docker-archive:/images/thing.tar", "docker-archive", "localhost/thing:latest", ""},
		{"", "", "", "empty image name"},
		{"Busybox", "", "", "not a valid image reference"},
		{"ftp://example.com/x", "", "", `unknown transport "ftp"`},
		{"foo:/x", "", "", `unknown transport "foo"`},
		{"busybox:bad tag", "", "", "not a valid image reference"},
	}
	for _, tt := range tests {
		srcs, err := ResolveSources(strings.ReplaceAll(tt.in, ":/images", ":"+dir+"/images"), sys)
		if tt.err != "" {
			if err == nil || !errors.Is(err, ErrBadReference) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if len(srcs) != 1 || srcs[0].Ref.Transport().Name() != tt.transport || srcs[0].Name != tt.name {
			t.Errorf("%q: got %s %q, want %s %q", tt.in, srcs[0].Ref.Transport().Name(), srcs[0].Name, tt.transport, tt.name)
		}
	}
}

func TestResolveSourcesRegistriesConf(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	err := os.WriteFile(conf, []byte(`unqualified-search-registries = ["registry.example", "quay.io"]
[aliases]
"myalias" = "quay.io/some/thing"
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	sys := &types.SystemContext{SystemRegistriesConfPath: conf, SystemRegistriesConfDirPath: dir + "/none"}
	srcs, err := ResolveSources("debian:12", sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 || srcs[0].Name != "registry.example/debian:12" || srcs[1].Name != "quay.io/debian:12" {
		t.Fatalf("search: %+v", srcs)
	}
	srcs, err = ResolveSources("myalias:v1", sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || srcs[0].Name != "quay.io/some/thing:v1" {
		t.Fatalf("alias: %+v", srcs)
	}
}
