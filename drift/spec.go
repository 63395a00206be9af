package drift

import (
	"fmt"
	"math"
	"net/url"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/registry"
)

// Spec is a model's drift section of config.yaml: how its live calls are
// sampled and windowed, when a feature warns or drifts, and where a
// version that keeps drifting sends its retraining trigger.
type Spec struct {
	// Window is how far back the live profile reaches, made of Slots
	// clock-aligned slots: the window moves one slot at a time.
	Window registry.Duration `json:"window"`
	Slots  int               `json:"slots"`
	// SampleRate is the share of calls profiled: every ⌈1/rate⌉-th call.
	SampleRate float64 `json:"sample_rate"`
	// MaxRowsPerCall bounds the rows one sampled call adds, so one large
	// batch neither dominates the window nor costs the request path much.
	MaxRowsPerCall int `json:"max_rows_per_call"`
	// MinRows is the window's rows below which a version is ok and
	// collecting: too few rows say nothing of drift.
	MinRows int64       `json:"min_rows"`
	PSI     Thresholds  `json:"psi"`
	KS      Thresholds  `json:"ks"` // not judged for class outputs
	Trigger TriggerSpec `json:"trigger"`
}

// Thresholds are the values of a signal at which a feature warns and
// drifts (a signal above the value).
type Thresholds struct {
	Warn     float64 `json:"warn"`
	Drifting float64 `json:"drifting"`
}

// TriggerSpec says when and where a drifting version asks for retraining.
type TriggerSpec struct {
	// Webhook receives the CloudEvent (sluice pipeline watch, say); empty:
	// triggers are logged and counted only.
	Webhook string `json:"webhook"`
	// DriftingFor is how long a version drifts before its episode triggers.
	DriftingFor registry.Duration `json:"drifting_for"`
	// Cooldown is the least time between two triggers sent for a model;
	// inside it a trigger is coalesced with the last one sent.
	Cooldown registry.Duration `json:"cooldown"`
}

// DefaultSpec is what a model's drift section is laid over.
func DefaultSpec() Spec {
	return Spec{
		Window:         registry.Duration(10 * time.Minute),
		Slots:          10,
		SampleRate:     1,
		MaxRowsPerCall: 64,
		MinRows:        500,
		PSI:            Thresholds{Warn: 0.1, Drifting: 0.25},
		KS:             Thresholds{Warn: 0.1, Drifting: 0.2},
		Trigger: TriggerSpec{
			DriftingFor: registry.Duration(5 * time.Minute),
			Cooldown:    registry.Duration(time.Hour),
		},
	}
}

// Bounds of a spec. A slot is at least a second because fleet windows
// name their slot in Unix seconds; slots are bounded so that a version's
// live profile stays small (it is (slots+2) × bins counters).
const (
	minSlot  = time.Second
	maxSlots = 120
	maxEvery = 1 << 20
)

// ParseSpec lays raw (YAML or JSON; nil: nothing) over base strictly and
// validates the result.
func ParseSpec(raw []byte, base Spec) (Spec, error) {
	s := base
	if raw != nil {
		if err := yaml.UnmarshalStrict(raw, &s); err != nil {
			return base, fmt.Errorf("drift: %w", err)
		}
	}
	return s, s.Validate()
}

// CheckConfig checks config.yaml's drift section; the registry calls it
// for every model configuration it reads.
func CheckConfig(raw []byte) error {
	_, err := ParseSpec(raw, DefaultSpec())
	return err
}

// Slot is the length of one slot of the window.
func (s Spec) Slot() time.Duration {
	return time.Duration(s.Window) / time.Duration(max(s.Slots, 1))
}

// every is n of "every n-th call is sampled".
func (s Spec) every() int64 {
	return int64(math.Ceil(1/s.SampleRate - 1e-9))
}

// Validate names the key that is wrong.
func (s Spec) Validate() error {
	switch {
	case s.Slots < 1 || s.Slots > maxSlots:
		return fmt.Errorf("drift.slots: %d, expected 1 to %d", s.Slots, maxSlots)
	case s.Window <= 0 || s.Slot() < minSlot:
		return fmt.Errorf("drift.window: %v, expected at least %v per slot (%d slots)", time.Duration(s.Window), minSlot, s.Slots)
	case !(s.SampleRate > 0 && s.SampleRate <= 1):
		return fmt.Errorf("drift.sample_rate: %v, expected a share in (0, 1]", s.SampleRate)
	case 1/s.SampleRate > maxEvery:
		return fmt.Errorf("drift.sample_rate: %v, expected at least one call in %d", s.SampleRate, maxEvery)
	case s.MaxRowsPerCall < 1:
		return fmt.Errorf("drift.max_rows_per_call: %d, expected at least 1", s.MaxRowsPerCall)
	case s.MinRows < 0:
		return fmt.Errorf("drift.min_rows: %d, expected 0 or more", s.MinRows)
	}
	if err := s.PSI.validate("drift.psi", math.MaxFloat64); err != nil {
		return err
	}
	if err := s.KS.validate("drift.ks", 1); err != nil {
		return err
	}
	return s.Trigger.validate()
}

// validate checks 0 < warn <= drifting <= most; a NaN fails every
// comparison and so the check.
func (t Thresholds) validate(key string, most float64) error {
	switch {
	case !(t.Warn > 0 && t.Warn <= most):
		return fmt.Errorf("%s.warn: %v, expected a value above 0, at most %v", key, t.Warn, most)
	case !(t.Drifting >= t.Warn && t.Drifting <= most):
		return fmt.Errorf("%s.drifting: %v, expected a value from warn (%v) to %v", key, t.Drifting, t.Warn, most)
	}
	return nil
}

func (t TriggerSpec) validate() error {
	switch {
	case t.DriftingFor < 0:
		return fmt.Errorf("drift.trigger.drifting_for: %v, expected 0 or more", time.Duration(t.DriftingFor))
	case t.Cooldown < 0:
		return fmt.Errorf("drift.trigger.cooldown: %v, expected 0 or more", time.Duration(t.Cooldown))
	case t.Webhook == "":
		return nil
	}
	u, err := url.Parse(t.Webhook)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("drift.trigger.webhook: %q, expected an http:// or https:// URL", t.Webhook)
	}
	return nil
}
