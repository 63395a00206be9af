package rollout

import (
	"fmt"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/registry"
)

// Spec is how a canary earns its traffic: weight steps, how long and how
// many calls each step needs, and the checks it must pass.
type Spec struct {
	Steps           []float64         `json:"steps"`             // canary weights in percent, the last one 100
	MinStepDuration registry.Duration `json:"min_step_duration"` // a step lasts at least this long
	MinStepCalls    int64             `json:"min_step_calls"`    // and each analysis sees at least this many canary calls
	MaxErrorRate    float64           `json:"max_error_rate"`    // canary faults / calls
	MaxLatencyRatio float64           `json:"max_latency_ratio"` // canary p99 / stable p99
	MinAgreement    float64           `json:"min_agreement"`     // shadow class agreement, when shadowing
	ShadowFraction  float64           `json:"shadow_fraction"`   // share of stable calls copied to the canary
	FailureLimit    int               `json:"failure_limit"`     // failed analyses in a step before rollback
	BreakerFailures uint32            `json:"breaker_failures"`  // consecutive canary faults that trip its breaker
}

// DefaultSpec is the rollout a model gets without a `rollout` key.
func DefaultSpec() Spec {
	return Spec{
		Steps:           []float64{5, 25, 50, 100},
		MinStepDuration: registry.Duration(30 * time.Second),
		MinStepCalls:    100,
		MaxErrorRate:    0.01,
		MaxLatencyRatio: 1.5,
		MinAgreement:    0.95,
		FailureLimit:    3,
		BreakerFailures: 5,
	}
}

// ParseSpec lays raw (YAML or JSON; nil: nothing) over base strictly and
// validates the result.
func ParseSpec(raw []byte, base Spec) (Spec, error) {
	s := base
	s.Steps = append([]float64(nil), base.Steps...)
	if raw != nil {
		if err := yaml.UnmarshalStrict(raw, &s); err != nil {
			return base, fmt.Errorf("rollout: %w", err)
		}
	}
	return s, s.Validate()
}

// CheckConfig checks config.yaml's rollout section; the registry calls it
// for every model configuration it reads.
func CheckConfig(raw []byte) error {
	_, err := ParseSpec(raw, DefaultSpec())
	return err
}

// Validate names the field that is wrong.
func (s Spec) Validate() error {
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
