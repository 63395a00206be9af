package rollout

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzRolloutSpec: ParseSpec never panics and never changes its base; a
// spec it accepts satisfies every invariant Validate states, re-encodes to
// YAML that parses to the same spec, and CheckConfig agrees with it. An
// error names the rollout section.
func FuzzRolloutSpec(f *testing.F) {
	for _, s := range []string{
		"steps: [5, 25, 50, 100]\nmin_step_duration: 30s\nmin_step_calls: 100\n",
		"steps: [100]\n",
		"steps: [10, 100]\nmax_error_rate: 0.02\nmax_latency_ratio: 2\nmin_agreement: 0.9\nshadow_fraction: 0.1\nfailure_limit: 2\nbreaker_failures: 3\n",
		`{"steps":[1,2,100],"min_step_duration":"1m30s"}`,
		"steps: [50, 25, 100]\n", "steps: [0, 100]\n", "steps: [5, 50]\n", "steps: []\n", "steps: [100, 100]\n",
		"steps: [5, .nan, 100]\n", "max_error_rate: .inf\n", "max_error_rate: .nan\n",
		"min_step_duration: -1s\n", "min_step_duration: 1\n", "min_step_duration: forever\n",
		"min_step_calls: 0\n", "min_step_calls: 1e30\n", "breaker_failures: -1\n", "breaker_failures: 4294967296\n",
		"failure_limit: 0\n", "shadow_fraction: 1.5\n", "stepz: [100]\n", "steps: 100\n",
		"steps: [5, 100]\nsteps: [10, 100]\n", "", "null", "~", "[]", "- 1\n", "{", "steps: [5, 100", "\t", "&a [100]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		base := DefaultSpec()
		s, err := ParseSpec(raw, base)
		if !reflect.DeepEqual(base, DefaultSpec()) {
			t.Fatalf("ParseSpec(%q) changed its base to %+v", raw, base)
		}
		if cerr := CheckConfig(raw); (cerr == nil) != (err == nil) {
			t.Fatalf("ParseSpec(%q) error %v, CheckConfig error %v", raw, err, cerr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rollout") {
				t.Fatalf("ParseSpec(%q): error %q does not name the rollout section", raw, err)
			}
			return
		}
		checkSpec(t, raw, s)
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %+v, which does not encode: %v", raw, s, err)
		}
		back, err := ParseSpec(out, Spec{})
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %+v, encoded as %q, which does not parse: %v", raw, s, out, err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("ParseSpec(%q) = %+v, round-trips as %+v", raw, s, back)
		}
	})
}

// checkSpec states Validate's invariants directly, so a NaN or an
// infinity cannot slip through a comparison that is false for it.
func checkSpec(t *testing.T, raw []byte, s Spec) {
	t.Helper()
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	in01 := func(v float64) bool { return v >= 0 && v <= 1 }
	n := len(s.Steps)
	ok := n > 0 && s.Steps[n-1] == 100
	for i, w := range s.Steps {
		ok = ok && w > 0 && w <= 100 && (i == 0 || w > s.Steps[i-1])
	}
	ok = ok && s.MinStepDuration >= 0 && s.MinStepCalls >= 1 && in01(s.MaxErrorRate) &&
		s.MaxLatencyRatio > 0 && finite(s.MaxLatencyRatio) && in01(s.MinAgreement) &&
		in01(s.ShadowFraction) && s.FailureLimit >= 1 && s.BreakerFailures >= 1
	if !ok {
		t.Fatalf("ParseSpec(%q) accepted %+v, which breaks an invariant", raw, s)
	}
}
