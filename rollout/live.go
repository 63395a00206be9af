package rollout

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/sluice-serving/sluice/registry"
)

// live is one model's rollout while it steers traffic: the registry's
// Observer and Shadower for that model.
type live struct {
	// Fixed for the rollout's life: the request path reads them unlocked.
	model          string
	stable, canary int64
	spec           Spec
	breaker        *gobreaker.TwoStepCircuitBreaker[struct{}]
	tripped        atomic.Bool  // the breaker opened: the next pass aborts
	shadows        *shadowQueue // nil without shadowing
	metrics        *metrics

	// status is the rollout's progress; the controller's per-model lock
	// guards it. The request path never reads it.
	status Status

	mu      sync.Mutex // guards the measurements below, which the request path writes
	epoch   string     // the stretch of the rollout the windows measure (Status.epoch)
	canaryW *window
	stableW *window
	shadow  Shadows
}

var _ registry.Observer = (*live)(nil)
var _ registry.Shadower = (*live)(nil)

// The breaker sees one outcome per call, as an error: nil for an answer,
// errFault for the canary's own failure, errNotCounted (excluded) for the
// rest, so drains, reloads and deadlines a client shortened never trip it.
var (
	errFault      = errors.New("canary fault")
	errNotCounted = errors.New("not the canary's fault")
)

// newLive makes the live rollout of st; onTrip runs once when its breaker
// opens.
func newLive(st Status, m *metrics, onTrip func()) *live {
	l := &live{model: st.Model, stable: st.Stable, canary: st.Canary, spec: st.Spec, status: st, metrics: m}
	l.reset(st.epoch())
	limit := st.Spec.BreakerFailures
	l.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         st.Model + "/" + strconv.FormatInt(st.Canary, 10),
		MaxRequests:  1,
		Timeout:      time.Hour, // the rollout is aborted long before a half-open try
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= limit },
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errNotCounted) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen && !l.tripped.Swap(true) {
				onTrip()
			}
		},
	})
	return l
}

// AllowCanary lets a call through to the canary unless its breaker is open.
func (l *live) AllowCanary() (func(registry.Fault), bool) {
	done, err := l.breaker.Allow()
	if err != nil {
		return nil, false
	}
	return func(f registry.Fault) {
		switch f {
		case registry.NoFault:
			done(nil)
		case registry.VersionFault:
			done(errFault)
		default:
			done(errNotCounted)
		}
	}, true
}

// Observe records a call on the stable or canary version in the current
// window; calls whose failure is not the version's fault are left out, so
// they weigh on neither the error rate nor the latency.
func (l *live) Observe(version int64, d time.Duration, f registry.Fault) {
	if f == registry.NotCounted {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch version {
	case l.canary:
		l.canaryW.observe(d, f == registry.VersionFault)
	case l.stable:
		l.stableW.observe(d, f == registry.VersionFault)
	}
}

// measure is the analysis input since the last verdict.
func (l *live) measure(stepStarted time.Time) Input {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Input{StepStarted: stepStarted, Canary: l.canaryW.summary(), Stable: l.stableW.summary(), Shadows: l.shadow}
}

// reset starts fresh windows for epoch: after every verdict, so that each
// analysis judges calls no earlier one saw.
func (l *live) reset(epoch string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch, l.canaryW, l.stableW, l.shadow = epoch, newWindow(), newWindow(), Shadows{}
}

// windowSet is l's measurements as the fleet's leader reads them.
func (l *live) windowSet() WindowSet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return WindowSet{Epoch: l.epoch, Canary: l.canaryW.data(), Stable: l.stableW.data(), Shadows: l.shadow}
}

func (l *live) shadowsNow() Shadows {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shadow
}

func (l *live) shadowResult(agree bool, diff float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shadow.add(agree, diff)
}
