package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/registry"
)

// Models is what the controller needs of the registry: the versions that
// serve, the traffic policy it steers, and the hooks on the request path.
type Models interface {
	Versions(name string) ([]*registry.Version, error)
	Traffic(name string) (registry.Traffic, error)
	SetTraffic(ctx context.Context, name string, t registry.Traffic) error
	Attach(name string, o registry.Observer, s registry.Shadower) error
	RolloutSpec(name string) (json.RawMessage, error)
	Load(ctx context.Context, name string, config []byte) error
}

var _ Models = (*registry.Registry)(nil)

// Controller runs every model's rollouts.
type Controller struct {
	models  Models
	log     *slog.Logger
	metrics *metrics
	dir     string // where rollout state persists
	now     func() time.Time

	mu     sync.Mutex // guards rolled, the map only: each entry has its own lock
	rolled map[string]*model

	fleet Fleet          // nil: this replica is alone
	wg    sync.WaitGroup // abortTripped's goroutines, waited for by Close
}

// model is one model's rollout state.
type model struct {
	// mu serialises this model's rollout operations (start, each analysis
	// pass, promote, abort, pause, resume, traffic by hand) and guards cur,
	// last and cur.status. It is never held across another model's work.
	mu   sync.Mutex
	cur  *live   // the rollout that steers traffic, progressing or paused
	last *Status // the latest rollout ended, for status after it ended
	// view is the status callers read without waiting for mu: a copy,
	// replaced whole after every change.
	view atomic.Pointer[Status]
	// curLive is cur for readers that must not wait for mu (Measurements).
	curLive atomic.Pointer[live]
}

// setCur installs l as the model's live rollout (nil: none); under mu.
func (m *model) setCur(l *live) {
	m.cur = l
	m.curLive.Store(l)
	if l != nil {
		m.last = nil
	}
}

// New makes a controller over models that keeps its state in dir (the
// repository's .sluice folder); metrics go on reg when it is not nil.
func New(models Models, dir string, log *slog.Logger, reg prometheus.Registerer) (*Controller, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Controller{models: models, log: log, metrics: m, dir: dir, now: time.Now, rolled: map[string]*model{}}, nil
}

func (c *Controller) model(name string) *model {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.rolled[name]
	if m == nil {
		m = &model{}
		c.rolled[name] = m
	}
	return m
}

// Run analyses every live rollout on each tick until ctx ends; cmd/ gives
// it a ticker, tests a channel they tick by hand.
func (c *Controller) Run(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticks:
			c.Evaluate(ctx, now)
		}
	}
}

// Evaluate runs each progressing rollout's analysis once: a passed step
// advances, the last one promotes, failed analyses reaching the failure
// limit roll back, and a tripped breaker aborts. A model whose lock is
// held (a rollout starting while its versions load) is skipped until the
// next pass rather than holding up the others.
func (c *Controller) Evaluate(ctx context.Context, now time.Time) {
	if c.fleet != nil && !c.fleet.Leading() {
		return
	}
	c.mu.Lock()
	names := slices.Sorted(maps.Keys(c.rolled))
	c.mu.Unlock()
	for _, name := range names {
		m := c.model(name)
		if m.mu.TryLock() {
			c.evaluate(ctx, name, m, now)
		}
	}
}

// evaluate analyses one model's rollout, under m.mu, which it releases. A
// panic in one model's analysis is logged and leaves the others running.
func (c *Controller) evaluate(ctx context.Context, name string, m *model, now time.Time) {
	defer m.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("rollout analysis panicked", "model", name, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	if l := m.cur; l != nil && l.status.State == Progressing {
		c.step(ctx, m, l, now)
	}
}

// step applies one analysis to a rollout; under m.mu.
func (c *Controller) step(ctx context.Context, m *model, l *live, now time.Time) {
	st := &l.status
	if l.tripped.Load() {
		if err := c.end(ctx, m, Aborted, fmt.Sprintf("circuit breaker tripped after %d consecutive canary faults", st.Spec.BreakerFailures), now); err != nil {
			c.log.Error("rollout: aborting after a breaker trip", "model", st.Model, "err", err)
		}
		return
	}
	in := c.measureAll(l)
	v := Analyse(now, st.Spec, in)
	if hold := c.notReadyCheck(st); hold != nil {
		v = Verdict{Decision: Hold, Checks: append(v.Checks, *hold)}
	}
	st.Checks, st.StepCalls, st.Updated = v.Checks, in.Canary.Calls, now
	next := *st
	traffic := registry.Traffic{Stable: st.Stable, Canary: st.Canary, Weight: st.Weight}
	switch {
	case v.Decision == Hold:
		c.publish(m, l.status, in.Shadows)
		return
	case v.Decision == Fail:
		next.Failures++
		if next.Failures >= st.Spec.FailureLimit {
			st.Failures = next.Failures // the aborted status counts this one
			if err := c.end(ctx, m, Aborted, "analysis failed: "+failedChecks(v.Checks), now); err != nil {
				c.log.Error("rollout: aborting after failed analyses", "model", st.Model, "err", err)
			}
			return
		}
		if err := c.commit(ctx, m, st.Model, Saved{Traffic: traffic, Rollout: &next}); err != nil {
			c.log.Error("rollout: recording a failed analysis", "model", st.Model, "err", err)
			return
		}
		c.log.Warn("rollout analysis failed", "model", st.Model, "step", next.Step, "failures", next.Failures, "checks", failedChecks(v.Checks))
	case st.Step == len(st.Spec.Steps)-1:
		if err := c.end(ctx, m, Promoted, "every step passed", now); err != nil {
			c.log.Error("rollout: promoting", "model", st.Model, "err", err)
		}
		return
	default:
		next.Step++
		next.Weight, next.StepStarted, next.Failures = st.Spec.Steps[next.Step], now, 0
		traffic.Weight = next.Weight
		if err := c.commit(ctx, m, st.Model, Saved{Traffic: traffic, Rollout: &next}); err != nil {
			c.log.Error("rollout: setting the next step's weight", "model", st.Model, "err", err)
			return
		}
		c.metrics.moved(next.Model, "advanced")
		c.log.Info("rollout advanced", "model", next.Model, "step", next.Step, "weight", next.Weight)
	}
	c.publish(m, l.status, in.Shadows)
}

// end promotes or aborts; under m.mu. A promotion makes the canary stable
// and lets the version policy unload the old stable; an abort sends every
// call to stable and keeps the reason.
func (c *Controller) end(ctx context.Context, m *model, state, reason string, now time.Time) error {
	st := m.cur.status
	st.State, st.Reason, st.Updated = state, reason, now
	t := registry.Traffic{Stable: st.Stable}
	if st.Weight = 0; state == Promoted {
		st.Weight, t = 100, registry.Traffic{Stable: st.Canary}
	}
	if err := c.commit(ctx, m, st.Model, Saved{Traffic: t, Rollout: &st}); err != nil {
		return err
	}
	c.metrics.moved(st.Model, state)
	c.log.Info("rollout ended", "model", st.Model, "state", state, "stable", st.Stable, "canary", st.Canary, "reason", reason)
	return nil
}

// publish makes st what Status shows and sets the metrics; under m.mu.
func (c *Controller) publish(m *model, st Status, sh Shadows) {
	st.Checks = slices.Clone(st.Checks)
	m.view.Store(&st)
	c.metrics.publish(&st, sh)
}

// Status returns a model's rollout (live, or the latest one ended; the
// zero state when it never had one) and its traffic policy. It never waits
// for an operation in progress.
func (c *Controller) Status(name string) (Status, registry.Traffic, error) {
	t, err := c.models.Traffic(name)
	if err != nil {
		return Status{}, t, err
	}
	if st := c.model(name).view.Load(); st != nil {
		return *st, t, nil
	}
	return Status{Model: name}, t, nil
}

// Close stops every live rollout's shadow worker and waits for the aborts
// breaker trips started; the rollouts themselves persist and resume at
// the next start.
func (c *Controller) Close() {
	c.wg.Wait()
	c.mu.Lock()
	all := make([]*model, 0, len(c.rolled))
	for _, m := range c.rolled {
		all = append(all, m)
	}
	c.mu.Unlock()
	for _, m := range all {
		m.mu.Lock()
		if m.cur != nil {
			m.cur.stopShadows()
		}
		m.mu.Unlock()
	}
}
