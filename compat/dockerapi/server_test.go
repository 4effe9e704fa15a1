package dockerapi

import (
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestNewer(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"1.41", "1.41", false}, {"1.42", "1.41", true}, {"1.9", "1.41", false},
		{"1.41", "1.9", true}, {"2.0", "1.99", true}, {"1.24", "1.41", false},
	} {
		if got := newer(tt.a, tt.b); got != tt.want {
			t.Errorf("newer(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}

func TestFilters(t *testing.T) {
	for _, tt := range []struct {
		q    string
		want []string
		err  bool
	}{
		{"", nil, false},
		{`{"label":["a=b"],"status":["running","exited"]}`, []string{"label=a=b", "status=running", "status=exited"}, false},
		{`{"name":{"web":true,"db":false}}`, []string{"name=web"}, false},
		{`{bad`, nil, true},
	} {
		r := httptest.NewRequest("GET", "/containers/json", nil)
		q := r.URL.Query()
		if tt.q != "" {
			q.Set("filters", tt.q)
		}
		r.URL.RawQuery = q.Encode()
		got, err := filters(r)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v %v, want %v", tt.q, got, err, tt.want)
		}
	}
}
