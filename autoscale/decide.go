package autoscale

import (
	"math"
	"time"
)

// Signals are what one decision reads, averaged over the windows by the
// caller (see Window).
type Signals struct {
	// StableConcurrency and PanicConcurrency are the model's calls in
	// flight and queued, summed over all replicas, averaged over the stable
	// and the panic window.
	StableConcurrency float64
	PanicConcurrency  float64
	// Capacity is the concurrency one replica sustains, measured from
	// recent batches; the target is TargetUtilization of it.
	Capacity float64
	// ReadyReplicas is how many replicas serve now.
	ReadyReplicas int
	// LastArrival is when the model last received a call (zero: never).
	LastArrival time.Time
}

// State is what a decision carries to the next.
type State struct {
	Desired    int       `json:"desired"`
	PanicSince time.Time `json:"panic_since"` // zero: not in panic
	// CalmSince is when the panic condition last stopped holding.
	CalmSince time.Time `json:"calm_since"`
	// Wanted are the recommendations of the last stable window: a scale
	// down takes effect only once a whole stable window has wanted less.
	Wanted []Wanted `json:"wanted,omitempty"`
}

// Wanted is one past recommendation.
type Wanted struct {
	At       time.Time `json:"at"`
	Replicas int       `json:"replicas"`
}

// Decision is a recommendation with the figures behind it.
type Decision struct {
	Desired      int     `json:"desired_replicas"`
	Panic        bool    `json:"panic"`
	Target       float64 `json:"target_concurrency_per_replica"`
	StableWanted int     `json:"stable_replicas"`
	PanicWanted  int     `json:"panic_replicas"`
	Idle         bool    `json:"idle"` // scale to zero recommended
}

// Decide recommends a replica count.
func Decide(now time.Time, cfg Config, s Signals, st State) (Decision, State) {
	target := cfg.TargetConcurrency
	if target <= 0 {
		target = max(s.Capacity*cfg.TargetUtilization, 0.01)
	}
	d := Decision{Target: target}
	d.StableWanted = int(math.Ceil(s.StableConcurrency / target))
	d.PanicWanted = int(math.Ceil(s.PanicConcurrency / target))
	ready := max(s.ReadyReplicas, 1)
	panicking := s.PanicConcurrency/(float64(ready)*target) >= cfg.PanicThreshold
	switch {
	case panicking:
		if st.PanicSince.IsZero() {
			st.PanicSince = now
		}
		st.CalmSince = time.Time{}
	case !st.PanicSince.IsZero():
		if st.CalmSince.IsZero() {
			st.CalmSince = now
		}
		if now.Sub(st.CalmSince) >= cfg.StableWindow {
			st.PanicSince, st.CalmSince = time.Time{}, time.Time{} // a whole stable window without panic load
		}
	}
	d.Panic = !st.PanicSince.IsZero()
	want := d.StableWanted
	if d.Panic {
		want = max(d.PanicWanted, d.StableWanted, st.Desired) // never down while in panic
	}
	want, st.Wanted = holdDown(now, cfg.StableWindow, want, st.Wanted)
	want = rateLimit(cfg, want, s.ReadyReplicas)
	d.Idle = idle(now, cfg, s)
	switch {
	case d.Idle:
		want = 0
	case want == 0 && (s.PanicConcurrency > 0 || recent(now, cfg, s)):
		want = 1 // there is traffic: one replica at least (scale from zero)
	}
	d.Desired = min(max(want, cfg.MinReplicas), cfg.MaxReplicas)
	st.Desired = d.Desired
	return d, st
}

// holdDown records want and returns the most wanted over the last window,
// so the count only falls once a whole window has wanted less.
func holdDown(now time.Time, window time.Duration, want int, past []Wanted) (int, []Wanted) {
	kept := make([]Wanted, 0, len(past)+1)
	held := want
	for _, w := range past {
		if now.Sub(w.At) < window {
			kept = append(kept, w)
			held = max(held, w.Replicas)
		}
	}
	return held, append(kept, Wanted{now, want})
}

// rateLimit bounds a step from ready replicas.
func rateLimit(cfg Config, want, ready int) int {
	if ready == 0 {
		return want // from zero, the platform activates; no rate applies
	}
	up := int(math.Ceil(float64(ready) * cfg.MaxScaleUpRate))
	down := int(math.Floor(float64(ready) / cfg.MaxScaleDownRate))
	return min(max(want, down), up)
}

// idle reports whether zero replicas should serve: allowed, no load, and
// no call for the grace period.
func idle(now time.Time, cfg Config, s Signals) bool {
	return cfg.MinReplicas == 0 && s.StableConcurrency == 0 && s.PanicConcurrency == 0 && !recent(now, cfg, s)
}

func recent(now time.Time, cfg Config, s Signals) bool {
	return !s.LastArrival.IsZero() && now.Sub(s.LastArrival) < cfg.ScaleToZeroGrace
}
