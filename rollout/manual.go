package rollout

import (
	"context"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
)

// Action promotes, pauses, resumes or aborts a model's rollout by hand. It
// waits only for operations on the same model's rollout.
func (c *Controller) Action(ctx context.Context, name, action string) (Status, error) {
	switch action {
	case "promote", "abort", "pause", "resume":
	default:
		return Status{}, tensor.Errorf(tensor.NotFound, "rollout action %q: expected promote, pause, resume or abort", action)
	}
	if _, err := c.models.Traffic(name); err != nil {
		return Status{}, err
	}
	m := c.model(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.cur
	if l == nil {
		return Status{}, tensor.Errorf(tensor.InvalidArgument, "model %q has no rollout in progress", name)
	}
	now := c.now()
	var err error
	switch action {
	case "promote":
		err = c.end(ctx, m, Promoted, "promoted by hand", now)
	case "abort":
		err = c.end(ctx, m, Aborted, "aborted by hand", now)
	case "pause", "resume":
		next := l.status
		if next.State, next.Updated = Paused, now; action == "resume" {
			next.State, next.StepStarted = Progressing, now
		}
		t := registry.Traffic{Stable: next.Stable, Canary: next.Canary, Weight: next.Weight}
		if err = c.commit(ctx, m, name, Saved{Traffic: t, Rollout: &next}); err == nil {
			c.metrics.moved(name, action+"d")
			c.log.Info("rollout "+action+"d", "model", name)
		}
	}
	if err != nil {
		return Status{}, err
	}
	return *m.view.Load(), nil
}

// SetTraffic sets a model's split by hand; refused while a rollout steers
// it.
func (c *Controller) SetTraffic(ctx context.Context, name string, t registry.Traffic) error {
	if err := t.Validate(); err != nil {
		return tensor.WithKind(tensor.InvalidArgument, err)
	}
	m := c.model(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.cur; l != nil {
		return tensor.Errorf(tensor.InvalidArgument, "model %q: a rollout is %s; abort or promote it before setting traffic by hand", name, l.status.State)
	}
	if c.fleet != nil {
		if _, err := c.models.Traffic(name); err != nil {
			return err
		}
	}
	return c.commit(ctx, m, name, Saved{Traffic: t, Rollout: m.view.Load()})
}

// LoadAsCanary loads a model through the repository API without letting a
// new version take over: the version serving now stays stable, and the
// model's default rollout starts for the highest version above it (one
// that polling may already have loaded without giving it traffic).
func (c *Controller) LoadAsCanary(ctx context.Context, name string, config []byte) error {
	m := c.model(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.cur; l != nil {
		return tensor.Errorf(tensor.InvalidArgument, "model %q: a rollout of version %d is already %s; abort or promote it first", name, l.canary, l.status.State)
	}
	stable := c.stableNow(ctx, name)
	if err := c.models.Load(ctx, name, config); err != nil {
		return err
	}
	vs, err := c.models.Versions(name)
	if err != nil {
		return err
	}
	if len(vs) == 0 || vs[len(vs)-1].Number() <= stable {
		return tensor.Errorf(tensor.InvalidArgument, "model %q: rollout: canary, but no version above the stable %d is ready", name, stable)
	}
	_, err = c.start(ctx, m, name, nil, vs[len(vs)-1].Number())
	return err
}

// stableNow is the model's stable version, pinning the highest serving one
// as stable when the traffic policy names none; 0 for a model not loaded.
func (c *Controller) stableNow(ctx context.Context, name string) int64 {
	t, err := c.models.Traffic(name)
	if err != nil {
		return 0
	}
	if t.Stable != 0 {
		return t.Stable
	}
	vs, _ := c.models.Versions(name)
	if len(vs) == 0 {
		return 0
	}
	stable := vs[len(vs)-1].Number()
	if err := c.models.SetTraffic(ctx, name, registry.Traffic{Stable: stable}); err != nil {
		c.log.Warn("rollout: pinning the stable version", "model", name, "err", err)
	}
	return stable
}
