package lifecycle

import (
	"reflect"
	"testing"
	"time"
)

func TestParseHealth(t *testing.T) {
	three := int64(3)
	zero := int64(0)
	for _, c := range []struct {
		f    HealthFlags
		test []string
		err  bool
	}{
		{HealthFlags{}, nil, false},
		{HealthFlags{Cmd: "curl -f http://localhost/"}, []string{"CMD-SHELL", "curl -f http://localhost/"}, false},
		{HealthFlags{Cmd: `["pg_isready","-q"]`}, []string{"CMD", "pg_isready", "-q"}, false},
		{HealthFlags{Cmd: `["CMD","true"]`}, []string{"CMD", "true"}, false},
		{HealthFlags{Cmd: `["CMD-SHELL","exit 0"]`}, []string{"CMD-SHELL", "exit 0"}, false},
		{HealthFlags{Cmd: `["CMD"]`}, nil, true},
		{HealthFlags{Cmd: "true", Interval: "1s", Timeout: "2s", StartPeriod: "0s", Retries: &three}, []string{"CMD-SHELL", "true"}, false},
		{HealthFlags{Cmd: "true", Interval: "10ms"}, nil, true},
		{HealthFlags{Cmd: "true", Timeout: "soon"}, nil, true},
		{HealthFlags{Cmd: "true", Retries: &zero}, nil, true},
		{HealthFlags{Cmd: "true", None: true}, nil, true},
		{HealthFlags{Interval: "1s"}, nil, true},
		{HealthFlags{None: true}, nil, false},
	} {
		h, err := ParseHealth(c.f)
		if c.err {
			if err == nil || Kind(err) != ErrInvalid {
				t.Errorf("ParseHealth(%+v) = %+v, %v: want an ErrInvalid", c.f, h, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHealth(%+v): %v", c.f, err)
			continue
		}
		var test []string
		if h != nil {
			test = h.Test
		}
		if !reflect.DeepEqual(test, c.test) {
			t.Errorf("ParseHealth(%+v).Test = %q, want %q", c.f, test, c.test)
		}
	}
	h, _ := ParseHealth(HealthFlags{Cmd: "true"})
	if h.Interval != 30*time.Second || h.Timeout != 30*time.Second || h.Retries != 3 || h.StartPeriod != 0 {
		t.Errorf("defaults: %+v", h)
	}
}
