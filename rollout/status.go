package rollout

import (
	"time"
)

// Rollout states.
const (
	Progressing = "progressing"
	Paused      = "paused"
	Promoted    = "promoted"
	Aborted     = "aborted"
)

// Status is a rollout as persisted and as the admin API shows it.
type Status struct {
	Model       string    `json:"model"`
	State       string    `json:"state"`
	Stable      int64     `json:"stable"`
	Canary      int64     `json:"canary"`
	Step        int       `json:"step"`
	Weight      float64   `json:"weight"`
	Spec        Spec      `json:"spec"`
	StepStarted time.Time `json:"step_started"`
	Failures    int       `json:"failed_analyses"`
	Reason      string    `json:"reason,omitempty"`
	Checks      []Check   `json:"checks,omitempty"`
	StepCalls   int64     `json:"step_calls"`
	Updated     time.Time `json:"updated"`
}

// live reports whether the rollout still steers traffic.
func (s *Status) live() bool { return s.State == Progressing || s.State == Paused }
