package rollout

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
)

// Fleet shares a controller's rollouts with the other replicas that serve
// the same models (package coordination implements it over etcd). Without
// one a controller is alone: its state persists in files and it analyses
// its own calls.
type Fleet interface {
	// Leading reports whether this replica runs the analyses now.
	Leading() bool
	// Write makes s the model's state of record for every replica, each
	// of which applies it (Controller.Apply). It fails when the store
	// cannot be reached or the state changed since this replica last
	// applied it; the caller then changes nothing.
	Write(ctx context.Context, name string, s Saved) error
	// Windows are the other live replicas' measurements of the model's
	// rollout in epoch.
	Windows(name, epoch string) []WindowSet
	// NotReady names the live replicas that do not serve version v of the
	// model.
	NotReady(name string, v int64) []string
}

// WithFleet makes c one replica of a fleet: rollouts change through f's
// store, and only while f leads does c analyse them, over every replica's
// measurements.
func (c *Controller) WithFleet(f Fleet) *Controller {
	c.fleet = f
	return c
}

// writeTimeout bounds one write of a model's state to the fleet's store.
const writeTimeout = 3 * time.Second

// WindowSet is one replica's measurements of a rollout since its epoch
// began, as replicas publish them for the leader.
type WindowSet struct {
	Epoch   string     `json:"epoch"`
	Canary  WindowData `json:"canary"`
	Stable  WindowData `json:"stable"`
	Shadows Shadows    `json:"shadows"`
}

// WindowData is one version's window: counts and the latency histogram,
// which merges exactly with the other replicas'.
type WindowData struct {
	Calls   int64         `json:"calls"`
	Faults  int64         `json:"faults"`
	Latency *hdr.Snapshot `json:"latency_us"`
}

// epoch names the stretch of a rollout that one analysis judges: a new
// step, a failed analysis or a resume starts another, and every replica
// then starts fresh windows.
func (s *Status) epoch() string {
	return fmt.Sprintf("%d/%d/%d/%d", s.Canary, s.Step, s.Failures, s.StepStarted.UnixNano())
}

// Apply makes this replica's rollout and traffic for a model what the
// fleet's store says: the coordination package calls it for every change
// it sees, this replica's own writes included.
func (c *Controller) Apply(ctx context.Context, name string, s Saved) error {
	m := c.model(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	return c.apply(ctx, m, name, s)
}

// apply is the one place a replica's rollout state changes; under m.mu.
// A rollout that is no longer live gives its traffic back before its
// observer goes; the same rollout at another stretch starts fresh
// windows; another rollout replaces the one installed.
func (c *Controller) apply(ctx context.Context, m *model, name string, s Saved) error {
	st := s.Rollout
	if st == nil || !st.live() {
		err := c.models.SetTraffic(ctx, name, s.Traffic)
		if l := m.cur; l != nil {
			if aerr := c.models.Attach(name, nil, nil); aerr != nil {
				c.log.Warn("rollout: detaching", "model", name, "err", aerr)
			}
			l.stopShadows()
			m.setCur(nil)
		}
		if st != nil {
			last := *st
			m.last = &last
			c.publish(m, last, Shadows{})
		}
		return err
	}
	if l := m.cur; l != nil && l.stable == st.Stable && l.canary == st.Canary {
		old := l.status
		l.status = *st
		if old.epoch() != st.epoch() {
			l.reset(st.epoch())
		}
		t := s.Traffic
		if l.tripped.Load() {
			// This replica's breaker sent its calls to stable; it keeps
			// them there until the abort it asked for lands.
			t.Weight = 0
		}
		err := c.models.SetTraffic(ctx, name, t)
		c.publish(m, l.status, l.shadowsNow())
		return err
	}
	if l := m.cur; l != nil {
		_ = c.models.Attach(name, nil, nil)
		l.stopShadows()
		m.setCur(nil)
	}
	return c.install(ctx, m, *st)
}

// commit makes next the model's state; under m.mu. With a fleet the store
// comes first, so a replica never runs ahead of the others: a write that
// fails (etcd unreachable: rollouts pause) changes nothing here either.
// Alone, it applies here and persists to the file.
func (c *Controller) commit(ctx context.Context, m *model, name string, next Saved) error {
	if c.fleet != nil {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err := c.fleet.Write(wctx, name, next)
		cancel()
		if err != nil {
			return tensor.Errorf(tensor.Unavailable, "model %q: the fleet's rollout state could not be written, nothing changed: %w", name, err)
		}
	}
	if err := c.apply(ctx, m, name, next); err != nil {
		return err
	}
	if c.fleet == nil {
		c.saveFile(name, next)
	}
	return nil
}

// measureAll is the analysis input of l: its own windows, and with a fleet
// every other live replica's of the same epoch, merged (HDR histograms
// merge exactly, so the p99 is the fleet's).
func (c *Controller) measureAll(l *live) Input {
	if c.fleet == nil {
		return l.measure(l.status.StepStarted)
	}
	epoch := l.status.epoch()
	sets := append(c.fleet.Windows(l.model, epoch), l.windowSet())
	canary, stable := newWindow(), newWindow()
	var sh Shadows
	for _, s := range sets {
		if s.Epoch != epoch {
			continue
		}
		canary.merge(s.Canary)
		stable.merge(s.Stable)
		sh.Compared += s.Shadows.Compared
		sh.Agreed += s.Shadows.Agreed
		sh.MaxDiff = max(sh.MaxDiff, s.Shadows.MaxDiff)
	}
	return Input{StepStarted: l.status.StepStarted, Canary: canary.summary(), Stable: stable.summary(), Shadows: sh}
}

// Measurements are this replica's windows of every live rollout, by
// model, for the coordination package to publish to the leader.
func (c *Controller) Measurements() map[string]WindowSet {
	c.mu.Lock()
	models := make(map[string]*model, len(c.rolled))
	for name, m := range c.rolled {
		models[name] = m
	}
	c.mu.Unlock()
	out := map[string]WindowSet{}
	for name, m := range models {
		if l := m.curLive.Load(); l != nil {
			out[name] = l.windowSet()
		}
	}
	return out
}

// TakeOver is what a replica does on becoming the fleet's leader: every
// rollout in progress restarts its step's clock, so every replica measures
// afresh for the new leader's first analysis (the old leader's last
// windows died with it).
func (c *Controller) TakeOver(ctx context.Context) {
	c.mu.Lock()
	models := make(map[string]*model, len(c.rolled))
	for name, m := range c.rolled {
		models[name] = m
	}
	c.mu.Unlock()
	for name, m := range models {
		m.mu.Lock()
		if l := m.cur; l != nil && l.status.State == Progressing {
			next := l.status
			next.StepStarted, next.Updated = c.now(), c.now()
			if err := c.commit(ctx, m, name, Saved{Traffic: registry.Traffic{Stable: next.Stable, Canary: next.Canary, Weight: next.Weight}, Rollout: &next}); err != nil {
				c.log.Warn("rollout: resuming as the fleet's leader", "model", name, "err", err)
			} else {
				c.log.Info("rollout resumed by the fleet's new leader", "model", name, "step", next.Step, "weight", next.Weight)
			}
		}
		m.mu.Unlock()
	}
}

// abortTripped ends a rollout whose breaker tripped on this replica, for
// the whole fleet: only the leader analyses, so the replica that saw the
// faults writes the abort itself. It runs apart from the request path that
// tripped the breaker, owned by the controller, which waits for it at
// Close.
func (c *Controller) abortTripped(name string, l *live) {
	c.wg.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				c.log.Error("rollout: aborting after a breaker trip panicked", "model", name, "panic", v, "stack", string(debug.Stack()))
			}
		}()
		m := c.model(name)
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.cur != l {
			return // ended meanwhile
		}
		ctx, cancel := context.WithTimeout(context.Background(), tripTimeout)
		defer cancel()
		if err := c.end(ctx, m, Aborted, fmt.Sprintf("circuit breaker tripped after %d consecutive canary faults", l.spec.BreakerFailures), c.now()); err != nil {
			c.log.Error("rollout: aborting after a breaker trip", "model", name, "err", err)
		}
	})
}

// notReadyCheck holds a step while the canary is not ready on every live
// replica of the fleet; nil when it is (or without a fleet).
func (c *Controller) notReadyCheck(st *Status) *Check {
	if c.fleet == nil {
		return nil
	}
	missing := c.fleet.NotReady(st.Model, st.Canary)
	if len(missing) == 0 {
		return nil
	}
	return &Check{Name: "canary ready on every replica", Value: float64(len(missing)), Pass: false,
		Note: fmt.Sprintf("version %d is not ready on %s", st.Canary, strings.Join(missing, ", "))}
}
