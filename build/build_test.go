package build

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/openshift/imagebuilder"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(c, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSources(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret": "x"})
	ctx := writeTree(t, map[string]string{
		"a.txt": "a", "b.txt": "b", "dir/c": "c", "dir/skip.log": "s",
		"in": "->a.txt", "out": "->" + filepath.Join(outside, "secret"), "up": "->../..",
	})
	root, err := os.OpenRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, c := range []struct {
		srcs, excludes []string
		want           []string
		err            error
	}{
		{[]string{"a.txt"}, nil, []string{"a.txt"}, nil},
		{[]string{"/a.txt"}, nil, []string{"a.txt"}, nil},
		{[]string{"*.txt"}, nil, []string{"a.txt", "b.txt"}, nil},
		{[]string{"*.txt"}, []string{"b.txt"}, []string{"a.txt"}, nil},
		{[]string{"."}, nil, []string{"."}, nil},
		{[]string{"in"}, nil, []string{"in"}, nil},
		{[]string{"nope"}, nil, nil, ErrNoSource},
		{[]string{"b.txt"}, []string{"*.txt"}, nil, ErrNoSource},
		{[]string{"../x"}, nil, nil, ErrOutside},
		{[]string{"out"}, nil, nil, ErrOutside},
		{[]string{"up"}, nil, nil, ErrOutside},
	} {
		got, _, err := sources(root, c.srcs, c.excludes)
		if !errors.Is(err, c.err) {
			t.Errorf("%v excluding %v: error %v, want %v", c.srcs, c.excludes, err, c.err)
			continue
		}
		var rels []string
		for _, s := range got {
			rels = append(rels, s.rel)
		}
		if !slices.Equal(rels, c.want) {
			t.Errorf("%v excluding %v: %v, want %v", c.srcs, c.excludes, rels, c.want)
		}
	}
}

func TestDigest(t *testing.T) {
	ctx := writeTree(t, map[string]string{"dir/a": "a", "dir/b": "b", "dir/skip": "s"})
	d1, err := Digest(ctx, []string{"dir"}, []string{"dir/skip"})
	if err != nil {
		t.Fatal(err)
	}
	// An excluded file changes nothing.
	os.WriteFile(filepath.Join(ctx, "dir/skip"), []byte("changed"), 0o644)
	if d2, _ := Digest(ctx, []string{"dir"}, []string{"dir/skip"}); d2 != d1 {
		t.Errorf("a change of an excluded file changed the digest")
	}
	// A copied file's content does.
	os.WriteFile(filepath.Join(ctx, "dir/a"), []byte("A"), 0o644)
	if d3, _ := Digest(ctx, []string{"dir"}, []string{"dir/skip"}); d3 == d1 {
		t.Errorf("a change of a copied file kept the digest")
	}
	// So does its mode.
	d4, _ := Digest(ctx, []string{"dir"}, nil)
	os.Chmod(filepath.Join(ctx, "dir/b"), 0o755)
	if d5, _ := Digest(ctx, []string{"dir"}, nil); d5 == d4 {
		t.Errorf("a change of a copied file's mode kept the digest")
	}
}

func TestApplyChanges(t *testing.T) {
	cfg := &dockerspec.DockerOCIImage{}
	cfg.Config.Env = []string{"PATH=/bin", "A=1"}
	cfg.Config.Cmd = []string{"sh"}
	err := ApplyChanges(cfg, []string{"ENV A=2 B=3", `CMD ["echo", "hi"]`, "USER nobody", "WORKDIR /w", "EXPOSE 80", "LABEL k=v", "STOPSIGNAL SIGINT"})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !slices.Equal(c.Env, []string{"PATH=/bin", "A=2", "B=3"}) || !slices.Equal(c.Cmd, []string{"echo", "hi"}) || c.User != "nobody" || c.WorkingDir != "/w" || c.Labels["k"] != "v" || c.StopSignal != "SIGINT" {
		t.Errorf("config after the changes: %+v", c)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("EXPOSE 80: %v", c.ExposedPorts)
	}
	for _, bad := range []string{"RUN true", "FROM x", "COPY a b"} {
		if err := ApplyChanges(cfg, []string{bad}); err == nil || !strings.Contains(err.Error(), "cannot be changed") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestCheckInstructions(t *testing.T) {
	node, err := imagebuilder.ParseDockerfile(strings.NewReader("FROM x\nRUN a\nFROBNICATE b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkInstructions(node); err == nil || !strings.Contains(err.Error(), "line 3: unknown instruction: FROBNICATE") {
		t.Errorf("checkInstructions: %v", err)
	}
}
