package rollout

import (
	"fmt"
	"strings"
	"time"
)

// Decision is what one analysis concludes for a step.
type Decision uint8

// Decisions.
const (
	// Hold: too few canary calls for a verdict, or the step is too young
	// to advance; the measurements go on accumulating.
	Hold Decision = iota
	// Pass: every check passed and the step is old enough; advance.
	Pass
	// Fail: a check failed; one failed analysis against failure_limit.
	Fail
)

func (d Decision) String() string { return [...]string{"hold", "pass", "fail"}[d] }

// Check is one analysis check with its value and threshold.
type Check struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Pass      bool    `json:"pass"`
	Note      string  `json:"note,omitempty"`
}

// Verdict is an analysis's decision and the checks behind it.
type Verdict struct {
	Decision Decision
	Checks   []Check
}

// Input is what one analysis looks at: the canary's and stable's windows
// and the shadow comparisons since the last verdict, and when the step
// began.
type Input struct {
	StepStarted time.Time
	Canary      Summary
	Stable      Summary
	Shadows     Shadows
}

// Analyse decides a step from its measurements; a pure function of now,
// the spec and the input.
func Analyse(now time.Time, spec Spec, in Input) Verdict {
	checks := []Check{errorRateCheck(in.Canary, spec.MaxErrorRate), latencyCheck(in.Canary, in.Stable, spec.MaxLatencyRatio)}
	if spec.ShadowFraction > 0 {
		checks = append(checks, agreementCheck(in.Shadows, spec.MinAgreement))
	}
	v := Verdict{Decision: Hold, Checks: checks}
	if in.Canary.Calls < spec.MinStepCalls {
		return v
	}
	for _, c := range checks {
		if !c.Pass {
			v.Decision = Fail
			return v
		}
	}
	if now.Sub(in.StepStarted) >= time.Duration(spec.MinStepDuration) {
		v.Decision = Pass
	}
	return v
}

func errorRateCheck(c Summary, limit float64) Check {
	rate := 0.0
	if c.Calls > 0 {
		rate = float64(c.Faults) / float64(c.Calls)
	}
	return Check{Name: "canary error rate", Value: rate, Threshold: limit, Pass: rate <= limit,
		Note: fmt.Sprintf("%d faults in %d calls", c.Faults, c.Calls)}
}

// latencyCheck passes without a stable baseline: with no stable calls the
// canary cannot be compared, and the error rate still guards it.
func latencyCheck(canary, stable Summary, ratio float64) Check {
	c := Check{Name: "canary p99 / stable p99", Threshold: ratio, Pass: true}
	if stable.Calls < 10 || stable.P99 <= 0 {
		c.Note = "no stable baseline in this window"
		return c
	}
	c.Value = float64(canary.P99) / float64(stable.P99)
	c.Pass = c.Value <= ratio
	c.Note = fmt.Sprintf("canary %v, stable %v", canary.P99, stable.P99)
	return c
}

func agreementCheck(s Shadows, limit float64) Check {
	c := Check{Name: "shadow agreement", Threshold: limit, Pass: true}
	if s.Compared < 10 {
		c.Note = fmt.Sprintf("%d shadow results so far", s.Compared)
		return c
	}
	c.Value = float64(s.Agreed) / float64(s.Compared)
	c.Pass = c.Value >= limit
	c.Note = fmt.Sprintf("%d shadow calls compared, max |diff| %.3g", s.Compared, s.MaxDiff)
	return c
}

// failedChecks names the checks that failed, for a reason or a log line.
func failedChecks(checks []Check) string {
	var out []string
	for _, c := range checks {
		if !c.Pass {
			out = append(out, fmt.Sprintf("%s %.4g past %.4g (%s)", c.Name, c.Value, c.Threshold, c.Note))
		}
	}
	return strings.Join(out, "; ")
}
