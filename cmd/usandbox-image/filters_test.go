package main

import (
	"testing"

	"usandbox/storage"
	"usandbox/storage/index"
)

func TestImageFilters(t *testing.T) {
	busybox := &storage.Image{ID: "b", Names: []string{"localhost/busybox:latest", "registry.example:5000/tools/busybox:1.36"}}
	labelled := &storage.Image{ID: "l", Names: []string{"localhost/img:latest"}, Config: index.Config{Labels: map[string]string{"k": "v", "e": ""}}}
	dangling := &storage.Image{ID: "d"}
	all := []*storage.Image{busybox, labelled, dangling}
	for _, c := range []struct {
		filters []string
		want    []string // IDs
	}{
		{nil, []string{"b", "l", "d"}},
		{[]string{"dangling=true"}, []string{"d"}},
		{[]string{"dangling=false"}, []string{"b", "l"}},
		{[]string{"label=k"}, []string{"l"}},
		{[]string{"label=k=v"}, []string{"l"}},
		{[]string{"label=k=w"}, nil},
		{[]string{"label=e"}, []string{"l"}},
		{[]string{"reference=busybox"}, []string{"b"}},
		{[]string{"reference=busybox:1.36"}, []string{"b"}},
		{[]string{"reference=busybox:nope"}, nil},
		{[]string{"reference=*box"}, []string{"b"}},
		{[]string{"reference=localhost/*"}, []string{"b", "l"}},
		{[]string{"reference=registry.example:5000/tools/*"}, []string{"b"}},
		{[]string{"reference=img", "reference=busybox"}, []string{"b", "l"}},
		{[]string{"reference=localhost/*", "label=k"}, []string{"l"}},
		{[]string{"label=k", "label=e"}, []string{"l"}},
		{[]string{"label=k", "label=nope"}, nil},
	} {
		match, err := parseImageFilters(c.filters)
		if err != nil {
			t.Fatalf("%q: %v", c.filters, err)
		}
		var got []string
		for _, im := range filterImages(all, match) {
			got = append(got, im.ID)
		}
		if len(got) != len(c.want) {
			t.Errorf("%q: %q, want %q", c.filters, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: %q, want %q", c.filters, got, c.want)
				break
			}
		}
	}
	for _, bad := range []string{"bogus=1", "dangling=maybe", "nokey", "reference=[", "before=x"} {
		if _, err := parseImageFilters([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
