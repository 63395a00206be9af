package registry

import (
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// RolloutSpec is how a canary earns its traffic: weight steps, how long and
// how many calls each step needs, and the checks it must pass.
type RolloutSpec struct {
	Steps           []float64 `json:"steps"`             // canary weights in percent, the last one 100
	MinStepDuration Duration  `json:"min_step_duration"` // a step lasts at least this long
	MinStepCalls    int64     `json:"min_step_calls"`    // and sees at least this many canary calls
	MaxErrorRate    float64   `json:"max_error_rate"`    // canary errors / calls
	MaxLatencyRatio float64   `json:"max_latency_ratio"` // canary p99 / stable p99
	MinAgreement    float64   `json:"min_agreement"`     // shadow class agreement, when shadowing
	ShadowFraction  float64   `json:"shadow_fraction"`   // share of stable calls copied to the canary
	FailureLimit    int       `json:"failure_limit"`     // failed analyses in a step before rollback
	BreakerFailures uint32    `json:"breaker_failures"`  // consecutive canary failures that trip its breaker
}

// DefaultRolloutSpec is the rollout a model gets without a `rollout` key.
func DefaultRolloutSpec() RolloutSpec {
	return RolloutSpec{
		Steps:           []float64{5, 25, 50, 100},
		MinStepDuration: Duration(30 * time.Second),
		MinStepCalls:    100,
		MaxErrorRate:    0.01,
		MaxLatencyRatio: 1.5,
		MinAgreement:    0.95,
		FailureLimit:    3,
		BreakerFailures: 5,
	}
}

// Validate names the field that is wrong.
func (s RolloutSpec) Validate() error {
	if len(s.Steps) == 0 || s.Steps[len(s.Steps)-1] != 100 {
		return fmt.Errorf("rollout.steps: %v, expected increasing weights ending at 100", s.Steps)
	}
	for i, w := range s.Steps {
		if w <= 0 || w > 100 || (i > 0 && w <= s.Steps[i-1]) {
			return fmt.Errorf("rollout.steps[%d]: %v, expected increasing weights in (0, 100]", i, w)
		}
	}
	switch {
	case s.MinStepDuration < 0:
		return fmt.Errorf("rollout.min_step_duration: %v, expected 0 or more", time.Duration(s.MinStepDuration))
	case s.MinStepCalls < 1:
		return fmt.Errorf("rollout.min_step_calls: %d, expected at least 1", s.MinStepCalls)
	case s.MaxErrorRate < 0 || s.MaxErrorRate > 1:
		return fmt.Errorf("rollout.max_error_rate: %v, expected 0 to 1", s.MaxErrorRate)
	case s.MaxLatencyRatio <= 0:
		return fmt.Errorf("rollout.max_latency_ratio: %v, expected a positive factor", s.MaxLatencyRatio)
	case s.MinAgreement < 0 || s.MinAgreement > 1:
		return fmt.Errorf("rollout.min_agreement: %v, expected 0 to 1", s.MinAgreement)
	case s.ShadowFraction < 0 || s.ShadowFraction > 1:
		return fmt.Errorf("rollout.shadow_fraction: %v, expected 0 to 1", s.ShadowFraction)
	case s.FailureLimit < 1:
		return fmt.Errorf("rollout.failure_limit: %d, expected at least 1", s.FailureLimit)
	case s.BreakerFailures < 1:
		return fmt.Errorf("rollout.breaker_failures: %d, expected at least 1", s.BreakerFailures)
	}
	return nil
}

// Rollout states.
const (
	RolloutProgressing = "progressing"
	RolloutPaused      = "paused"
	RolloutPromoted    = "promoted"
	RolloutAborted     = "aborted"
)

// Check is one analysis check with its value and threshold.
type Check struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Pass      bool    `json:"pass"`
	Note      string  `json:"note,omitempty"`
}

// RolloutStatus is a rollout as persisted and as the admin API shows it.
type RolloutStatus struct {
	Model       string      `json:"model"`
	State       string      `json:"state"`
	Stable      int64       `json:"stable"`
	Canary      int64       `json:"canary"`
	Step        int         `json:"step"`
	Weight      float64     `json:"weight"`
	Spec        RolloutSpec `json:"spec"`
	StepStarted time.Time   `json:"step_started"`
	Failures    int         `json:"failed_analyses"`
	Reason      string      `json:"reason,omitempty"`
	Checks      []Check     `json:"checks,omitempty"`
	StepCalls   int64       `json:"step_calls"`
	Updated     time.Time   `json:"updated"`
}

// rollout is a live rollout: its status plus what it measures. The status
// changes under the registry's ops lock; the measurements under mu.
type rollout struct {
	status  RolloutStatus
	breaker *gobreaker.CircuitBreaker[struct{}]
	tripped bool // the breaker opened; guarded by the registry's mu

	mu      sync.Mutex // guards windows and the shadow tallies
	windows map[int64]*window
	agree   int64
	shadows int64
	maxDiff float64
}

func (ro *rollout) window(v int64) *window {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	w := ro.windows[v]
	if w == nil {
		w = newWindow()
		ro.windows[v] = w
	}
	return w
}

// resetWindows starts a step's measurements afresh.
func (ro *rollout) resetWindows() {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	ro.windows = map[int64]*window{}
	ro.agree, ro.shadows, ro.maxDiff = 0, 0, 0
}

func (ro *rollout) shadowResult(agree bool, diff float64) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	ro.shadows++
	if agree {
		ro.agree++
	}
	ro.maxDiff = max(ro.maxDiff, diff)
}

// decision is what the analysis concludes for a step.
type decision uint8

const (
	hold decision = iota
	advance
	rollback
)

// analyse runs the checks on the current step's measurements; a pure
// function of the measurements, the spec and now.
func (ro *rollout) analyse(now time.Time) (decision, []Check, int64) {
	st := &ro.status
	spec := st.Spec
	cCalls, cErrs, cP99 := ro.window(st.Canary).snapshot()
	sCalls, _, sP99 := ro.window(st.Stable).snapshot()
	checks := []Check{errorRateCheck(cCalls, cErrs, spec.MaxErrorRate), latencyCheck(cP99, sP99, sCalls, spec.MaxLatencyRatio)}
	if spec.ShadowFraction > 0 {
		checks = append(checks, ro.agreementCheck(spec.MinAgreement))
	}
	if cCalls < spec.MinStepCalls {
		return hold, checks, cCalls
	}
	for _, c := range checks {
		if !c.Pass {
			return rollback, checks, cCalls // the caller counts it against failure_limit
		}
	}
	if now.Sub(st.StepStarted) < time.Duration(spec.MinStepDuration) {
		return hold, checks, cCalls
	}
	return advance, checks, cCalls
}

func errorRateCheck(calls, errs int64, limit float64) Check {
	rate := 0.0
	if calls > 0 {
		rate = float64(errs) / float64(calls)
	}
	return Check{Name: "canary error rate", Value: rate, Threshold: limit, Pass: rate <= limit}
}

func latencyCheck(canary, stable time.Duration, stableCalls int64, ratio float64) Check {
	c := Check{Name: "canary p99 / stable p99", Threshold: ratio, Pass: true}
	if stableCalls < 10 || stable <= 0 {
		c.Note = "no stable baseline in this step"
		return c
	}
	c.Value = float64(canary) / float64(stable)
	c.Pass = c.Value <= ratio
	c.Note = fmt.Sprintf("canary %v, stable %v", canary, stable)
	return c
}

func (ro *rollout) agreementCheck(limit float64) Check {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	c := Check{Name: "shadow agreement", Threshold: limit, Pass: true}
	if ro.shadows < 10 {
		c.Note = fmt.Sprintf("%d shadow results so far", ro.shadows)
		return c
	}
	c.Value = float64(ro.agree) / float64(ro.shadows)
	c.Pass = c.Value >= limit
	c.Note = fmt.Sprintf("%d shadow calls, max |diff| %.3g", ro.shadows, ro.maxDiff)
	return c
}
