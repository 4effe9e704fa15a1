package lifecycle

import (
	"errors"
	"testing"
)

func TestParseVolumeFilters(t *testing.T) {
	vols := []*Volume{
		{Name: "data", Driver: "local", Labels: map[string]string{"app": "web"}},
		{Name: "cache", Driver: "local", Labels: map[string]string{"tier": ""}},
	}
	used := map[string]bool{"data": true}
	for _, tt := range []struct {
		filters []string
		want    []string
		err     bool
	}{
		{nil, []string{"data", "cache"}, false},
		{[]string{"name=^da"}, []string{"data"}, false},
		{[]string{"name=a"}, []string{"data", "cache"}, false},
		{[]string{"name=data", "name=cache"}, []string{"data", "cache"}, false},
		{[]string{"label=app"}, []string{"data"}, false},
		{[]string{"label=app=web"}, []string{"data"}, false},
		{[]string{"label=app=db"}, nil, false},
		{[]string{"label=tier"}, []string{"cache"}, false},
		{[]string{"label=tier", "name=data"}, nil, false},
		{[]string{"driver=local"}, []string{"data", "cache"}, false},
		{[]string{"dangling=true"}, []string{"cache"}, false},
		{[]string{"dangling=false"}, []string{"data"}, false},
		{[]string{"dangling=maybe"}, nil, true},
		{[]string{"name=("}, nil, true},
		{[]string{"label"}, nil, true},
		{[]string{"until=1h"}, nil, true},
	} {
		f, err := ParseVolumeFilters(tt.filters)
		if tt.err {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: err %v, want ErrInvalid", tt.filters, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.filters, err)
			continue
		}
		var got []string
		for _, v := range vols {
			if f.match(v, used[v.Name]) {
				got = append(got, v.Name)
			}
		}
		if len(got) != len(tt.want) {
			t.Errorf("%q: %q, want %q", tt.filters, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q: %q, want %q", tt.filters, got, tt.want)
			}
		}
	}
}
