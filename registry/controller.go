package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/tensor"
)

// RunRollouts evaluates every live rollout on each tick until ctx ends;
// cmd/ gives it a ticker, tests a channel they tick by hand.
func (r *Registry) RunRollouts(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticks:
			r.EvaluateRollouts(ctx, now)
		}
	}
}

// EvaluateRollouts runs each progressing rollout's analysis once: a passed
// step advances, the last one promotes, failed analyses reaching the
// failure limit roll back, and a tripped breaker aborts.
func (r *Registry) EvaluateRollouts(ctx context.Context, now time.Time) {
	r.ops.Lock()
	defer r.ops.Unlock()
	for _, name := range r.Names() {
		r.mu.RLock()
		var ro *rollout
		var tripped bool
		if m := r.models[name]; m != nil && m.rollout != nil {
			ro, tripped = m.rollout, m.rollout.tripped
		}
		r.mu.RUnlock()
		if ro == nil || ro.status.State != RolloutProgressing {
			continue
		}
		if tripped {
			r.endRollout(ctx, name, RolloutAborted, fmt.Sprintf("circuit breaker tripped after %d consecutive canary failures", ro.status.Spec.BreakerFailures), now)
			continue
		}
		r.step(ctx, name, ro, now)
	}
}

// step applies one analysis to a rollout; under r.ops. The status changes
// under r.mu too, since the admin API reads it under r.mu alone.
func (r *Registry) step(ctx context.Context, name string, ro *rollout, now time.Time) {
	d, checks, calls := ro.analyse(now)
	st := &ro.status
	last := st.Step == len(st.Spec.Steps)-1
	r.mu.Lock()
	st.Checks, st.StepCalls, st.Updated = checks, calls, now
	switch {
	case d == rollback:
		st.Failures++
	case d == advance && !last:
		st.Step++
		st.Weight, st.StepStarted, st.Failures = st.Spec.Steps[st.Step], now, 0
		m := r.entryLocked(name)
		m.traffic, m.trafficSet = Traffic{Stable: st.Stable, Canary: st.Canary, Weight: st.Weight}, true
	}
	failures, step, weight := st.Failures, st.Step, st.Weight
	r.mu.Unlock()
	switch {
	case d == rollback && failures >= st.Spec.FailureLimit:
		r.endRollout(ctx, name, RolloutAborted, "analysis failed: "+failedChecks(checks), now)
		return
	case d == rollback:
		r.log.Warn("rollout analysis failed", "model", name, "step", step, "failures", failures, "checks", failedChecks(checks))
	case d == advance && last:
		r.endRollout(ctx, name, RolloutPromoted, "every step passed", now)
		return
	case d == advance:
		ro.resetWindows()
		r.transition(name, "advanced")
		r.log.Info("rollout advanced", "model", name, "step", step, "weight", weight)
	}
	r.publishRolloutMetrics(name, st)
	r.save(name)
}

func failedChecks(checks []Check) string {
	var out []string
	for _, c := range checks {
		if !c.Pass {
			out = append(out, fmt.Sprintf("%s %.4g past %.4g (%s)", c.Name, c.Value, c.Threshold, c.Note))
		}
	}
	return strings.Join(out, "; ")
}

// endRollout promotes or aborts; under r.ops. A promotion makes the canary
// stable and lets the version policy unload the old stable; an abort sends
// every call to stable (weight 0) and keeps the reason.
func (r *Registry) endRollout(ctx context.Context, name, state, reason string, now time.Time) {
	r.mu.Lock()
	m := r.models[name]
	ro := m.rollout
	st := ro.status
	st.State, st.Reason, st.Updated = state, reason, now
	m.rollout, m.last = nil, &st
	if state == RolloutPromoted {
		st.Weight = 100
		m.traffic = Traffic{Stable: st.Canary}
	} else {
		st.Weight = 0
		m.traffic = Traffic{Stable: st.Stable}
	}
	m.trafficSet = true
	r.mu.Unlock()
	if r.calls != nil {
		if state == RolloutPromoted {
			r.calls.promotions.WithLabelValues(name).Inc()
		} else {
			r.calls.rollbacks.WithLabelValues(name).Inc()
		}
	}
	r.transition(name, state)
	r.log.Info("rollout ended", "model", name, "state", state, "stable", st.Stable, "canary", st.Canary, "reason", reason)
	r.publishRolloutMetrics(name, &st)
	r.save(name)
	if state == RolloutPromoted {
		r.syncModel(ctx, name, nil) // the old stable is no longer pinned: the version policy decides
	}
}

// transition counts a rollout transition; the log line is the caller's.
func (r *Registry) transition(name, to string) {
	if r.calls != nil {
		r.calls.transition.WithLabelValues(name, to).Inc()
	}
}

func (r *Registry) setTraffic(name string, t Traffic) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.entryLocked(name)
	m.traffic, m.trafficSet = t, true
}

func (r *Registry) publishRolloutMetrics(name string, st *RolloutStatus) {
	if r.calls == nil {
		return
	}
	for _, s := range []string{RolloutProgressing, RolloutPaused, RolloutPromoted, RolloutAborted} {
		v := 0.0
		if s == st.State {
			v = 1
		}
		r.calls.state.WithLabelValues(name, s).Set(v)
	}
	r.calls.step.WithLabelValues(name).Set(float64(st.Step))
	r.calls.weight.WithLabelValues(name, fmt.Sprint(st.Stable)).Set(100 - st.Weight)
	r.calls.weight.WithLabelValues(name, fmt.Sprint(st.Canary)).Set(st.Weight)
	ro := r.model(name).rollout
	if ro != nil {
		ro.mu.Lock()
		if ro.shadows > 0 {
			r.calls.agreement.WithLabelValues(name).Set(float64(ro.agree) / float64(ro.shadows))
			r.calls.shadowDiff.WithLabelValues(name).Set(ro.maxDiff)
		}
		ro.mu.Unlock()
	}
}

// StartRollout begins a rollout of canary (0: the highest serving version
// that is not stable). spec, YAML or JSON, is laid over the model's default
// rollout; nil means the default.
func (r *Registry) StartRollout(ctx context.Context, name string, spec []byte, canary int64) (RolloutStatus, error) {
	r.ops.Lock()
	defer r.ops.Unlock()
	m, _, err := r.modelRollout(name)
	if err != nil {
		return RolloutStatus{}, err
	}
	r.mu.RLock()
	s := m.spec
	r.mu.RUnlock()
	if spec != nil {
		if err := yaml.UnmarshalStrict(spec, &s); err != nil {
			return RolloutStatus{}, tensor.Errorf(tensor.InvalidArgument, "model %q: rollout spec: %v", name, err)
		}
	}
	return r.startRollout(ctx, name, &s, canary, time.Now())
}

func (r *Registry) startRollout(ctx context.Context, name string, spec *RolloutSpec, canary int64, now time.Time) (RolloutStatus, error) {
	m := r.model(name)
	if m == nil {
		return RolloutStatus{}, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	r.mu.RLock()
	live, t, vs, def := m.rollout, m.traffic, m.versions, m.spec
	r.mu.RUnlock()
	if live != nil {
		return RolloutStatus{}, tensor.Errorf(tensor.InvalidArgument, "model %q: a rollout of version %d is already %s; abort or promote it first", name, live.status.Canary, live.status.State)
	}
	if spec == nil {
		spec = &def
	}
	if err := spec.Validate(); err != nil {
		return RolloutStatus{}, tensor.Errorf(tensor.InvalidArgument, "model %q: %w", name, err)
	}
	stable := t.Stable
	if stable == 0 && len(vs) > 0 {
		stable = vs[len(vs)-1].version
		if stable == canary && len(vs) > 1 {
			stable = vs[len(vs)-2].version
		}
	}
	if canary == 0 {
		for _, v := range slices.Backward(vs) {
			if v.version != stable {
				canary = v.version
				break
			}
		}
	}
	if stable == 0 || canary == 0 || canary == stable {
		return RolloutStatus{}, tensor.Errorf(tensor.InvalidArgument, "model %q: a rollout needs a stable version and a different canary; serving %v", name, labels(vs))
	}
	// Pin both, so the version policy cannot unload either mid-rollout.
	r.setTraffic(name, Traffic{Stable: stable, Canary: canary})
	r.syncModel(ctx, name, nil)
	if findVersion(r.servingOf(name), canary) == nil || findVersion(r.servingOf(name), stable) == nil {
		r.setTraffic(name, Traffic{Stable: stable})
		return RolloutStatus{}, tensor.Errorf(tensor.Unavailable, "model %q: versions %d and %d must both be ready for a rollout", name, stable, canary)
	}
	st := RolloutStatus{Model: name, State: RolloutProgressing, Stable: stable, Canary: canary, Weight: spec.Steps[0], Spec: *spec, StepStarted: now, Updated: now}
	r.resume(name, st)
	r.transition(name, "started")
	r.log.Info("rollout started", "model", name, "stable", stable, "canary", canary, "weight", st.Weight)
	r.publishRolloutMetrics(name, &st)
	r.save(name)
	return st, nil
}

// resume installs a live rollout in the state st (a new one, or one saved
// before a restart) with fresh measurements and breaker.
func (r *Registry) resume(name string, st RolloutStatus) {
	ro := &rollout{status: st, windows: map[int64]*window{}}
	ro.breaker = r.newBreaker(name, st.Canary, st.Spec.BreakerFailures)
	r.mu.Lock()
	m := r.entryLocked(name)
	m.rollout, m.last = ro, nil
	m.traffic, m.trafficSet = Traffic{Stable: st.Stable, Canary: st.Canary, Weight: st.Weight}, true
	r.mu.Unlock()
}

func labels(vs []*Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.label
	}
	return out
}

// modelRollout returns a model and its live rollout (nil when none).
func (r *Registry) modelRollout(name string) (*Model, *rollout, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	if m == nil {
		return nil, nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	return m, m.rollout, nil
}

// RolloutAction is promote, pause, resume or abort, by hand.
func (r *Registry) RolloutAction(ctx context.Context, name, action string) (RolloutStatus, error) {
	switch action {
	case "promote", "abort", "pause", "resume":
	default:
		return RolloutStatus{}, tensor.Errorf(tensor.NotFound, "rollout action %q: expected promote, pause, resume or abort", action)
	}
	r.ops.Lock()
	defer r.ops.Unlock()
	_, ro, err := r.modelRollout(name)
	if err != nil {
		return RolloutStatus{}, err
	}
	if ro == nil {
		return RolloutStatus{}, tensor.Errorf(tensor.InvalidArgument, "model %q has no rollout in progress", name)
	}
	now := time.Now()
	switch action {
	case "promote":
		r.endRollout(ctx, name, RolloutPromoted, "promoted by hand", now)
	case "abort":
		r.endRollout(ctx, name, RolloutAborted, "aborted by hand", now)
	case "pause":
		r.mu.Lock()
		ro.status.State, ro.status.Updated = RolloutPaused, now
		r.mu.Unlock()
	case "resume":
		r.mu.Lock()
		ro.status.State, ro.status.StepStarted, ro.status.Updated = RolloutProgressing, now, now
		r.mu.Unlock()
		ro.resetWindows()
	}
	if action == "pause" || action == "resume" {
		r.transition(name, action+"d")
		r.log.Info("rollout "+action+"d", "model", name)
		r.publishRolloutMetrics(name, &ro.status)
		r.save(name)
	}
	st, _, err := r.rolloutLocked(name)
	return st, err
}

// Rollout returns a model's rollout (live, or the latest one ended) and
// its traffic policy.
func (r *Registry) Rollout(name string) (RolloutStatus, Traffic, error) {
	return r.rolloutLocked(name)
}

func (r *Registry) rolloutLocked(name string) (RolloutStatus, Traffic, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	switch {
	case m == nil:
		return RolloutStatus{}, Traffic{}, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	case m.rollout != nil:
		return m.rollout.status, m.traffic, nil
	case m.last != nil:
		return *m.last, m.traffic, nil
	}
	return RolloutStatus{Model: name}, m.traffic, nil
}

// SetTraffic sets a model's split by hand; refused while a rollout runs.
func (r *Registry) SetTraffic(ctx context.Context, name string, t Traffic) error {
	if err := t.Validate(); err != nil {
		return tensor.WithKind(tensor.InvalidArgument, err)
	}
	r.ops.Lock()
	defer r.ops.Unlock()
	_, live, err := r.modelRollout(name)
	if err != nil {
		return err
	}
	if live != nil {
		return tensor.Errorf(tensor.InvalidArgument, "model %q: a rollout is %s; abort or promote it before setting traffic by hand", name, live.status.State)
	}
	r.setTraffic(name, t)
	r.syncModel(ctx, name, nil)
	for _, v := range t.pins() {
		if findVersion(r.servingOf(name), v) == nil {
			return tensor.Errorf(tensor.Unavailable, "model %q: version %d is not ready; calls go to the others", name, v)
		}
	}
	r.save(name)
	return nil
}
