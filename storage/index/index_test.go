package index

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNameMatches(t *testing.T) {
	tests := []struct {
		stored, typed string
		want          bool
	}{
		{"docker.io/library/busybox:latest", "busybox", true},
		{"docker.io/library/busybox:latest", "busybox:latest", true},
		{"docker.io/library/busybox:latest", "library/busybox", true},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", true},
		{"docker.io/library/busybox:latest", "busybox:1", false},
		{"localhost/busybox:latest", "busybox", true},
		{"127.0.0.1:5000/busybox:latest", "busybox", true},
		{"127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox", true},
		{"localhost/mybusybox:latest", "busybox", false},
		{"localhost/debian:bookworm", "debian:bookworm", true},
		{"localhost/debian:bookworm", "debian", false},
	}
	for _, tt := range tests {
		if got := NameMatches(tt.stored, tt.typed); got != tt.want {
			t.Errorf("NameMatches(%q, %q) = %v", tt.stored, tt.typed, got)
		}
	}
}

func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	uid := os.Getuid()
	ok := filepath.Join(base, "new")
	if err := PrivateDir(ok, uid); err != nil {
		t.Fatalf("a new directory: %v", err)
	}
	if fi, _ := os.Stat(ok); fi.Mode().Perm() != 0o700 {
		t.Fatalf("created with mode %v", fi.Mode())
	}
	if err := PrivateDir(ok, uid); err != nil {
		t.Fatalf("the same directory again: %v", err)
	}
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	if err := PrivateDir(open, uid); err == nil || !strings.Contains(err.Error(), "mode 0777") {
		t.Fatalf("mode 0777: %v", err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(ok, link)
	if err := PrivateDir(link, uid); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("a symlink to a good directory: %v", err)
	}
	if err := PrivateDir(ok, uid+1); err == nil || !strings.Contains(err.Error(), "belongs to uid") {
		t.Fatalf("another owner: %v", err)
	}
}
