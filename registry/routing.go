package registry

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/tensor"
)

// route is where one call goes.
type route struct {
	v      *Version
	stable *Version // the fallback when the canary's breaker is open
	ro     *rollout // the live rollout, if any
	canary bool
}

// resolve picks the version for a call. A named version bypasses the
// traffic policy; an unversioned call follows it (sticky by key), or goes
// to the highest serving version when the model has none.
func (r *Registry) resolve(name, version, key string) (route, error) {
	if version != "" {
		v, err := r.Lookup(name, version)
		return route{v: v}, err
	}
	r.mu.RLock()
	m := r.models[name]
	var t Traffic
	var ro *rollout
	var vs []*Version
	if m != nil {
		t, ro, vs = m.traffic, m.rollout, m.versions
	}
	r.mu.RUnlock()
	if m == nil || !t.split() {
		v, err := r.Lookup(name, "")
		return route{v: v}, err
	}
	want, canary := t.pick(key)
	rt := route{v: findVersion(vs, want), stable: findVersion(vs, t.Stable), ro: ro, canary: canary}
	if rt.v == nil {
		rt.v, rt.canary = rt.stable, false
	}
	if rt.v == nil {
		return rt, tensor.Errorf(tensor.Unavailable, "model %q: stable version %d of its traffic policy is not ready", name, t.Stable)
	}
	return rt, nil
}

// Infer runs req on the version that serves it and feeds the rollout's
// analysis, the canary's breaker and the shadow copies. A call that meets a
// version closing between lookup and admission (replaced or unloaded that
// instant) was never queued, so it goes again to what serves now:
// replacing a version loses no call.
func (r *Registry) Infer(ctx context.Context, name, version, key string, req *tensor.Request) (*tensor.Response, error) {
	for attempt := 0; ; attempt++ {
		rt, err := r.resolve(name, version, key)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		resp, served, err := r.call(ctx, rt, req)
		if errors.Is(err, batching.ErrClosed) && attempt < 3 {
			continue
		}
		r.observe(served, rt.ro, time.Since(start), err)
		if err == nil && rt.ro != nil && !rt.canary {
			r.maybeShadow(rt.ro, served, r.canaryOf(rt.ro), req, resp)
		}
		return resp, err
	}
}

// call runs the request, through the canary's breaker for canary calls; a
// call the open breaker refuses goes to the stable version instead.
func (r *Registry) call(ctx context.Context, rt route, req *tensor.Request) (*tensor.Response, *Version, error) {
	if !rt.canary || rt.ro == nil || rt.ro.breaker == nil {
		resp, err := rt.v.Infer(ctx, req)
		return resp, rt.v, err
	}
	var resp *tensor.Response
	_, err := rt.ro.breaker.Execute(func() (struct{}, error) {
		var err error
		resp, err = rt.v.Infer(ctx, req)
		return struct{}{}, err
	})
	if (errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)) && rt.stable != nil {
		resp, err = rt.stable.Infer(ctx, req)
		return resp, rt.stable, err
	}
	return resp, rt.v, err
}

func (r *Registry) canaryOf(ro *rollout) *Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if m := r.models[ro.status.Model]; m != nil {
		return findVersion(m.versions, ro.status.Canary)
	}
	return nil
}

// serverFault reports whether an error is the version's fault rather than
// the caller's: only those count against a canary.
func serverFault(err error) bool {
	if err == nil {
		return false
	}
	switch tensor.KindOf(err) {
	case tensor.InvalidArgument, tensor.NotFound, tensor.TooLarge:
		return false
	}
	return true
}

// observe records one call for its version's metrics and the rollout.
func (r *Registry) observe(v *Version, ro *rollout, d time.Duration, err error) {
	if v == nil {
		return
	}
	failed := serverFault(err)
	if ro != nil {
		ro.window(v.version).observe(d, failed)
	}
	if r.calls != nil {
		outcome := "success"
		if failed {
			outcome = "error"
		}
		r.calls.calls.WithLabelValues(v.name, v.label, outcome).Inc()
		r.calls.latency.WithLabelValues(v.name, v.label).Observe(d.Seconds())
	}
}

// newBreaker trips after spec.BreakerFailures consecutive canary failures
// and sends every unversioned call to the stable version at once; the
// controller then aborts the rollout.
func (r *Registry) newBreaker(name string, canary int64, limit uint32) *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name + "/" + strconv.FormatInt(canary, 10),
		MaxRequests:  1,
		Timeout:      time.Hour, // the rollout is aborted long before a half-open try
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= limit },
		IsSuccessful: func(err error) bool { return !serverFault(err) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				r.stopCanary(name, canary)
			}
		},
	})
}

// stopCanary sends all of a model's traffic to stable at once; the next
// controller pass records the abort.
func (r *Registry) stopCanary(name string, canary int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[name]
	if m == nil || m.traffic.Canary != canary {
		return
	}
	m.traffic.Weight = 0
	if m.rollout != nil {
		m.rollout.tripped = true
	}
	r.log.Warn("canary circuit breaker tripped: all traffic to stable", "model", name, "canary", canary)
}
