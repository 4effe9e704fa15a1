package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMountPoints(t *testing.T) {
	in := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
600 22 0:60 / /tmp/ocisuite-runc.root-1/ocitest2\040x/proc rw shared:300 - proc proc rw
short line
`
	got, err := parseMountPoints(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/tmp/ocisuite-runc.root-1/ocitest2 x/proc"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/tmp/a", "/tmp/a", true},
		{"/tmp/a/b/c", "/tmp/a", true},
		{"/tmp/a/", "/tmp/a", true},
		{"/tmp/ab", "/tmp/a", false},
		{"/tmp", "/tmp/a", false},
		{"/tmp/a/../b", "/tmp/a", false},
		{"/tmp/a/..b", "/tmp/a", true},
		{"", "/tmp/a", false},
	} {
		if got := within(tc.path, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}
