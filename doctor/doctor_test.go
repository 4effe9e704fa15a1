package doctor

import (
	"errors"
	"fmt"
	"testing"

	"usandbox/userns"
)

func TestSubIDRow(t *testing.T) {
	full := func(n uint32) *userns.Plan {
		return &userns.Plan{Mode: userns.Full, User: "alice",
			UIDMap: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: n}},
			GIDMap: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: n}}}
	}
	hostErr := &userns.HostError{Cause: "user namespaces are disabled", Fix: "sudo sysctl -w user.max_user_namespaces=28633"}
	for _, tt := range []struct {
		name   string
		plan   *userns.Plan
		err    error
		row    bool
		status Status
	}{
		{"full range", full(65536), nil, true, OK},
		{"small range", full(1000), nil, true, Warn},
		{"single ID", &userns.Plan{Mode: userns.Single, User: "alice"}, nil, true, Warn},
		// The host error has its own row (user namespaces, newuidmap).
		{"host error", nil, hostErr, false, ""},
		{"wrapped host error", nil, fmt.Errorf("%w: %w", userns.ErrNoUserNS, hostErr), false, ""},
		{"doubly wrapped host error", nil, fmt.Errorf("detecting: %w", fmt.Errorf("%w: %w", userns.ErrNoUserNS, hostErr)), false, ""},
		{"other error", nil, errors.New("/etc/subuid: line 3: bad range"), true, Fail},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := subIDRow(tt.plan, tt.err, "alice")
			if ok != tt.row {
				t.Fatalf("row = %v (%+v), want a row: %v", ok, r, tt.row)
			}
			if !ok {
				return
			}
			if r.Name != "sub-ID ranges" || r.Status != tt.status {
				t.Errorf("got %+v, want status %s", r, tt.status)
			}
			if r.Status != OK && r.Fix == "" {
				t.Errorf("%s row without a fix: %+v", r.Status, r)
			}
		})
	}
}
