package docker

import "testing"

func TestPullRef(t *testing.T) {
	for _, tt := range []struct{ from, tag, want, begin string }{
		{"busybox", "", "busybox", "Pulling from busybox|latest"},
		{"busybox", "1.36", "busybox:1.36", "Pulling from busybox|1.36"},
		{"127.0.0.1:5000/library/busybox", "latest", "127.0.0.1:5000/library/busybox:latest", "Pulling from library/busybox|latest"},
		{"busybox", "sha256:abc", "busybox@sha256:abc", "Pulling from busybox|sha256:abc"},
		{"localhost:5000/x:v2", "", "localhost:5000/x:v2", "Pulling from x|v2"},
	} {
		if got := PullRef(tt.from, tt.tag); got != tt.want {
			t.Errorf("PullRef(%q, %q) = %q, want %q", tt.from, tt.tag, got, tt.want)
		}
		if b := NewPullStream(tt.from, tt.tag).Begin(); b.Status+"|"+b.ID != tt.begin {
			t.Errorf("Begin of %s:%s: %q, want %q", tt.from, tt.tag, b.Status+"|"+b.ID, tt.begin)
		}
	}
}

func TestInsecureRegistry(t *testing.T) {
	for ref, want := range map[string]bool{
		"127.0.0.1:5000/busybox": true, "localhost/x": true, "localhost:5000/x": true, "[::1]:5000/x": true,
		"127.1.2.3/x": true, "busybox": false, "library/busybox": false, "docker.io/library/busybox": false,
		"10.0.0.1:5000/x": false, "localhost": false,
	} {
		if got := InsecureRegistry(ref); got != want {
			t.Errorf("InsecureRegistry(%q) = %v, want %v", ref, got, want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	if got := progressBar(0, 0); got != "0B" {
		t.Errorf("no total: %q", got)
	}
	got := progressBar(50, 100)
	if want := "[=========================>                        ]      50B/100B"; got != want {
		t.Errorf("half: %q, want %q", got, want)
	}
}
