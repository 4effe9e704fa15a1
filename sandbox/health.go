package sandbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// HealthConfig is a sandbox's health check (--health-*), as docker keeps
// it: Test is ["CMD-SHELL", command] or ["CMD", argv...].
type HealthConfig struct {
	Test        []string      `json:"Test"`
	Interval    time.Duration `json:"Interval"`
	Timeout     time.Duration `json:"Timeout"`
	StartPeriod time.Duration `json:"StartPeriod"`
	Retries     int           `json:"Retries"`
}

// Argv is the command the check runs.
func (h *HealthConfig) Argv() []string {
	if len(h.Test) > 0 && h.Test[0] == "CMD-SHELL" {
		return append([]string{"/bin/sh", "-c"}, h.Test[1:]...)
	}
	return h.Test[1:]
}

// Health statuses (docker's).
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Health is a sandbox's health, as docker's State.Health.
type Health struct {
	Status        string         `json:"Status"`
	FailingStreak int            `json:"FailingStreak"`
	Log           []HealthResult `json:"Log"`
}

// HealthResult is one check.
type HealthResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// healthLogMax is how many results docker keeps.
const healthLogMax = 5

const healthFile = "health.json"

// readHealth is the sandbox's health; starting before the first check.
func readHealth(dir string) *Health {
	h := &Health{Status: HealthStarting, Log: []HealthResult{}}
	if b, err := os.ReadFile(filepath.Join(dir, healthFile)); err == nil {
		if json.Unmarshal(b, h) != nil {
			h = &Health{Status: HealthStarting, Log: []HealthResult{}}
		}
	}
	return h
}

// RecordHealth adds the result r of a check to the health of the sandbox
// in dir, as docker counts it: a pass makes it healthy; a failure adds to
// the failing streak (not within the start period, while it is still
// starting), and retries failures in a row make it unhealthy. Checks run
// by the watcher and by healthcheck run take turns on a lock.
func RecordHealth(dir string, cfg *HealthConfig, started time.Time, r HealthResult) (*Health, error) {
	lock, err := os.OpenFile(filepath.Join(dir, healthFile+".lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, err
	}
	h := readHealth(dir)
	switch {
	case r.ExitCode == 0:
		h.Status, h.FailingStreak = HealthHealthy, 0
	case h.Status == HealthStarting && r.Start.Sub(started) < cfg.StartPeriod:
		// A failure while the command starts up does not count.
	default:
		h.FailingStreak++
		if h.FailingStreak >= cfg.Retries {
			h.Status = HealthUnhealthy
		}
	}
	h.Log = append(h.Log, r)
	if len(h.Log) > healthLogMax {
		h.Log = h.Log[len(h.Log)-healthLogMax:]
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return h, writeRunState(filepath.Join(dir, healthFile), b)
}

// ResetHealth is a new start: the health starts over.
func ResetHealth(dir string) error {
	return removeIfExists(filepath.Join(dir, healthFile))
}
