package rollout

import (
	"strings"
	"testing"
	"time"
)

func TestAnalyse(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := DefaultSpec()
	spec.MinStepCalls, spec.MinStepDuration, spec.MaxErrorRate, spec.MaxLatencyRatio = 100, 30_000_000_000, 0.01, 1.5
	ms := time.Millisecond
	ok := Summary{Calls: 200, P99: 10 * ms}
	tests := []struct {
		name   string
		now    time.Time
		spec   func(*Spec)
		in     Input
		want   Decision
		failed string // a check that must fail
	}{
		{name: "too few canary calls holds even when failing", now: t0.Add(time.Hour),
			in: Input{Canary: Summary{Calls: 99, Faults: 99, P99: ms}, Stable: ok}, want: Hold},
		{name: "young step holds when passing", now: t0.Add(29 * time.Second),
			in: Input{Canary: ok, Stable: ok}, want: Hold},
		{name: "old passing step passes", now: t0.Add(30 * time.Second),
			in: Input{Canary: ok, Stable: ok}, want: Pass},
		{name: "young failing step fails at once", now: t0.Add(time.Second),
			in: Input{Canary: Summary{Calls: 100, Faults: 2, P99: 10 * ms}, Stable: ok}, want: Fail, failed: "canary error rate"},
		{name: "error rate at the limit passes", now: t0.Add(time.Minute),
			in: Input{Canary: Summary{Calls: 100, Faults: 1, P99: 10 * ms}, Stable: ok}, want: Pass},
		{name: "slow canary fails", now: t0.Add(time.Minute),
			in: Input{Canary: Summary{Calls: 100, P99: 16 * ms}, Stable: ok}, want: Fail, failed: "canary p99 / stable p99"},
		{name: "latency at the ratio passes", now: t0.Add(time.Minute),
			in: Input{Canary: Summary{Calls: 100, P99: 15 * ms}, Stable: ok}, want: Pass},
		{name: "no stable baseline: latency cannot fail", now: t0.Add(time.Minute),
			in: Input{Canary: Summary{Calls: 100, P99: time.Second}, Stable: Summary{Calls: 9, P99: ms}}, want: Pass},
		{name: "shadow disagreement fails", now: t0.Add(time.Minute), spec: func(s *Spec) { s.ShadowFraction = 0.5 },
			in: Input{Canary: ok, Stable: ok, Shadows: Shadows{Compared: 100, Agreed: 90}}, want: Fail, failed: "shadow agreement"},
		{name: "too few shadows cannot fail", now: t0.Add(time.Minute), spec: func(s *Spec) { s.ShadowFraction = 0.5 },
			in: Input{Canary: ok, Stable: ok, Shadows: Shadows{Compared: 9}}, want: Pass},
		{name: "shadow agreement ignored without shadowing", now: t0.Add(time.Minute),
			in: Input{Canary: ok, Stable: ok, Shadows: Shadows{Compared: 100}}, want: Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec
			if tt.spec != nil {
				tt.spec(&s)
			}
			tt.in.StepStarted = t0
			v := Analyse(tt.now, s, tt.in)
			if v.Decision != tt.want {
				t.Fatalf("decision %v, want %v; checks %+v", v.Decision, tt.want, v.Checks)
			}
			if tt.failed != "" && !strings.Contains(failedChecks(v.Checks), tt.failed) {
				t.Errorf("failed checks %q, want %q among them", failedChecks(v.Checks), tt.failed)
			}
			if tt.want == Pass && failedChecks(v.Checks) != "" {
				t.Errorf("passed with failed checks %q", failedChecks(v.Checks))
			}
		})
	}
}

func TestSpecChecks(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"steps must end at 100", "steps: [5, 50]", "rollout.steps"},
		{"steps must increase", "steps: [50, 20, 100]", "rollout.steps[1]"},
		{"unknown key", "max_error: 0.1", "unknown field"},
		{"error rate range", "max_error_rate: 2", "rollout.max_error_rate"},
		{"bad duration", "min_step_duration: soon", "duration"},
		{"breaker at least one", "breaker_failures: 0", "rollout.breaker_failures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckConfig(%q) = %v, want an error naming %q", tt.yaml, err, tt.want)
			}
		})
	}
	s, err := ParseSpec([]byte("steps: [10, 100]\nmin_step_duration: 1m"), DefaultSpec())
	if err != nil || s.Steps[0] != 10 || time.Duration(s.MinStepDuration) != time.Minute || s.MinStepCalls != DefaultSpec().MinStepCalls {
		t.Errorf("ParseSpec laid over the default = %+v, %v", s, err)
	}
}
