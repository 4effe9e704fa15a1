package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.podman.io/image/v5/types"
	"golang.org/x/term"
)

// registriesConf makes tests independent of the host's registries.conf
// and of the user's recorded short-name aliases: conf is all there is.
func registriesConf(t *testing.T, conf string) *types.SystemContext {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return &types.SystemContext{
		SystemRegistriesConfPath:    path,
		SystemRegistriesConfDirPath: filepath.Join(dir, "none"),
		UserShortNameAliasConfPath:  filepath.Join(dir, "short-name-aliases.conf"),
	}
}

func noRegistriesConf(t *testing.T) *types.SystemContext { return registriesConf(t, "") }

// names are the names of the sources, in order.
func names(srcs []Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Name)
	}
	return out
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
		r, err := ResolveSources(strings.ReplaceAll(tt.in, ":/images", ":"+dir+"/images"), sys)
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
		if r.Description != "" {
			t.Errorf("%q: described as %q: only a short name resolved through registries.conf is", tt.in, r.Description)
		}
		srcs := r.Sources
		if len(srcs) != 1 || srcs[0].Ref.Transport().Name() != tt.transport || srcs[0].Name != tt.name {
			t.Errorf("%q: got %s %q, want %s %q", tt.in, srcs[0].Ref.Transport().Name(), srcs[0].Name, tt.transport, tt.name)
		}
	}
}

func TestResolveSourcesRegistriesConf(t *testing.T) {
	sys := registriesConf(t, `unqualified-search-registries = ["registry.example", "quay.io"]
[aliases]
"myalias" = "quay.io/some/thing"
`)
	r, err := ResolveSources("debian:12", sys)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r.Sources); strings.Join(got, " ") != "registry.example/debian:12 quay.io/debian:12" {
		t.Fatalf("search: %q", got)
	}
	if want := `Resolving "debian" using unqualified-search registries (` + sys.SystemRegistriesConfPath + ")"; r.Description != want {
		t.Errorf("search described as %q, want %q", r.Description, want)
	}
	r, err = ResolveSources("myalias:v1", sys)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r.Sources); len(got) != 1 || got[0] != "quay.io/some/thing:v1" {
		t.Fatalf("alias: %q", got)
	}
	if !strings.HasPrefix(r.Description, `Resolved "myalias" as an alias (`) {
		t.Errorf("alias described as %q", r.Description)
	}
	r, err = ResolveSources("library/debian@sha256:"+strings.Repeat("a", 64), sys)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r.Sources); len(got) != 2 || got[0] != "registry.example/library/debian@sha256:"+strings.Repeat("a", 64) {
		t.Fatalf("digest: %q", got)
	}
	// A fully qualified name is not looked up.
	r, err = ResolveSources("quay.io/x/y", sys)
	if err != nil || strings.Join(names(r.Sources), " ") != "quay.io/x/y:latest" || r.Description != "" {
		t.Fatalf("qualified: %+v %v", r, err)
	}
}

// TestResolveSourcesShortNameMode: registries.conf's short-name-mode is
// obeyed as podman obeys it. Without a terminal (go test's stdout is a
// pipe) several search registries are tried in order, unless the mode is
// enforcing, which refuses to guess.
func TestResolveSourcesShortNameMode(t *testing.T) {
	if term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) {
		t.Skip("stdin and stdout are a terminal, where resolution prompts: run it through go test")
	}
	const two = `unqualified-search-registries = ["registry.example", "quay.io"]` + "\n"
	for _, tt := range []struct {
		conf string
		want string // names, or "error: TEXT"
	}{
		{two, "registry.example/busybox:latest quay.io/busybox:latest"},
		{two + `short-name-mode = "permissive"`, "registry.example/busybox:latest quay.io/busybox:latest"},
		{two + `short-name-mode = "disabled"`, "registry.example/busybox:latest quay.io/busybox:latest"},
		{two + `short-name-mode = "enforcing"`, "error: cannot prompt without a TTY"},
		{`unqualified-search-registries = ["quay.io"]` + "\n" + `short-name-mode = "enforcing"`, "quay.io/busybox:latest"},
		{two + `short-name-mode = "enforcing"` + "\n[aliases]\n" + `"busybox" = "registry.example/lib/busybox"`, "registry.example/lib/busybox:latest"},
		{`short-name-mode = "bogus"`, "error: bogus"},
	} {
		r, err := ResolveSources("busybox", registriesConf(t, tt.conf))
		if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %+v, %v; want an error with %q", tt.conf, r, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.conf, err)
		} else if got := strings.Join(names(r.Sources), " "); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.conf, got, tt.want)
		}
	}
}

// TestResolveSourcesRecordedAlias: an alias recorded in the user's
// short-name-aliases.conf (a choice made at podman's or usandbox's
// prompt) is used.
func TestResolveSourcesRecordedAlias(t *testing.T) {
	sys := registriesConf(t, `unqualified-search-registries = ["registry.example", "quay.io"]`)
	if err := os.WriteFile(sys.UserShortNameAliasConfPath, []byte("[aliases]\n\"busybox\" = \"quay.io/busybox\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ResolveSources("busybox:1", sys)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r.Sources); len(got) != 1 || got[0] != "quay.io/busybox:1" {
		t.Fatalf("recorded alias: %q", got)
	}
	// Nothing was chosen at a prompt: nothing is recorded.
	if err := r.Sources[0].Record(); err != nil {
		t.Fatal(err)
	}
}
