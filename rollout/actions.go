package rollout

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
)

// Start begins a rollout of canary (0: the highest serving version that is
// not stable). spec, YAML or JSON, is laid over the model's default rollout
// (config.yaml's, over DefaultSpec); nil means the default.
func (c *Controller) Start(ctx context.Context, name string, spec []byte, canary int64) (Status, error) {
	m := c.model(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	return c.start(ctx, m, name, spec, canary)
}

// start is Start under m.mu.
func (c *Controller) start(ctx context.Context, m *model, name string, raw []byte, canary int64) (Status, error) {
	if l := m.cur; l != nil {
		return Status{}, tensor.Errorf(tensor.InvalidArgument, "model %q: a rollout of version %d is already %s; abort or promote it first", name, l.canary, l.status.State)
	}
	spec, err := c.spec(name, raw)
	if err != nil {
		return Status{}, err
	}
	stable, canary, err := c.pick(name, canary)
	if err != nil {
		return Status{}, err
	}
	// Pin both before any weight moves, so the version policy cannot
	// unload either mid-rollout.
	if err := c.models.SetTraffic(ctx, name, registry.Traffic{Stable: stable, Canary: canary}); err != nil {
		c.undo(ctx, name, stable)
		return Status{}, tensor.Errorf(tensor.Unavailable, "model %q: versions %d and %d must both be ready for a rollout: %w", name, stable, canary, err)
	}
	if missing := c.notReady(name, canary); missing != "" {
		c.undo(ctx, name, stable)
		return Status{}, tensor.Errorf(tensor.Unavailable, "model %q: version %d is not ready on %s; a rollout starts when every replica serves it", name, canary, missing)
	}
	now := c.now()
	st := Status{Model: name, State: Progressing, Stable: stable, Canary: canary, Weight: spec.Steps[0], Spec: spec, StepStarted: now, Updated: now}
	if err := c.commit(ctx, m, name, Saved{Traffic: registry.Traffic{Stable: stable, Canary: canary, Weight: st.Weight}, Rollout: &st}); err != nil {
		c.undo(ctx, name, stable)
		return Status{}, err
	}
	c.metrics.moved(name, "started")
	c.log.Info("rollout started", "model", name, "stable", stable, "canary", canary, "weight", st.Weight)
	return st, nil
}

// notReady names the fleet's replicas without canary ready, "" for none.
func (c *Controller) notReady(name string, canary int64) string {
	if c.fleet == nil {
		return ""
	}
	return strings.Join(c.fleet.NotReady(name, canary), ", ")
}

// undo sends a model's traffic back to stable after a start that failed.
func (c *Controller) undo(ctx context.Context, name string, stable int64) {
	if err := c.models.SetTraffic(ctx, name, registry.Traffic{Stable: stable}); err != nil {
		c.log.Warn("rollout: restoring traffic after a failed start", "model", name, "err", err)
	}
}

// spec is the model's default rollout with raw laid over it.
func (c *Controller) spec(name string, raw []byte) (Spec, error) {
	def, err := c.models.RolloutSpec(name)
	if err != nil {
		return Spec{}, err
	}
	base, err := ParseSpec(def, DefaultSpec())
	if err != nil {
		return Spec{}, tensor.Errorf(tensor.InvalidArgument, "model %q: config.yaml: %w", name, err)
	}
	s, err := ParseSpec(raw, base)
	if err != nil {
		return Spec{}, tensor.Errorf(tensor.InvalidArgument, "model %q: rollout spec: %w", name, err)
	}
	return s, nil
}

// pick chooses stable (the traffic policy's, else the highest serving
// version that is not the canary) and canary (the given one, else the
// highest serving version that is not stable).
func (c *Controller) pick(name string, canary int64) (stable, cnr int64, err error) {
	t, err := c.models.Traffic(name)
	if err != nil {
		return 0, 0, err
	}
	vs, err := c.models.Versions(name)
	if err != nil {
		return 0, 0, err
	}
	nums := make([]int64, len(vs))
	for i, v := range vs {
		nums[i] = v.Number()
	}
	stable = t.Stable
	for _, v := range slices.Backward(nums) {
		if stable == 0 && v != canary {
			stable = v
		}
	}
	for _, v := range slices.Backward(nums) {
		if canary == 0 && v != stable {
			canary = v
		}
	}
	if stable == 0 || canary == 0 || canary == stable {
		return 0, 0, tensor.Errorf(tensor.InvalidArgument, "model %q: a rollout needs a stable version and a different canary; serving %v", name, nums)
	}
	return stable, canary, nil
}

// install makes st the model's live rollout with fresh measurements and
// breaker, attaches it to the registry before its weight applies, and
// sets the weight; under m.mu.
func (c *Controller) install(ctx context.Context, m *model, st Status) error {
	name := st.Model
	var l *live
	l = newLive(st, c.metrics, func() {
		c.trip(name, st.Stable, st.Canary)
		if c.fleet != nil {
			c.abortTripped(name, l)
		}
	})
	l.startShadows(c.log)
	if err := c.models.Attach(name, l, l); err != nil {
		l.stopShadows()
		return err
	}
	if err := c.models.SetTraffic(ctx, name, registry.Traffic{Stable: st.Stable, Canary: st.Canary, Weight: st.Weight}); err != nil {
		_ = c.models.Attach(name, nil, nil)
		l.stopShadows()
		return err
	}
	m.setCur(l)
	c.publish(m, st, Shadows{})
	return nil
}

// trip sends all of a model's traffic to stable at once when the canary's
// breaker opens; the next analysis pass records the abort. It runs on the
// request path that tripped the breaker, so it takes no controller lock:
// the stable and canary pinned already, setting the weight never loads.
func (c *Controller) trip(name string, stable, canary int64) {
	c.log.Warn("canary circuit breaker tripped: all traffic to stable", "model", name, "canary", canary)
	ctx, cancel := context.WithTimeout(context.Background(), tripTimeout)
	defer cancel()
	if err := c.models.SetTraffic(ctx, name, registry.Traffic{Stable: stable, Canary: canary}); err != nil {
		c.log.Error("rollout: sending traffic to stable after a breaker trip", "model", name, "err", err)
	}
}

// tripTimeout bounds the traffic change a breaker trip makes; it loads
// nothing unless a pinned version vanished meanwhile.
const tripTimeout = 5 * time.Second
