package registry

import (
	"context"
	"errors"
	"time"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/tensor"
)

// Route is where one call goes, resolved once: the version, and for a call
// the traffic split routed, the stable fallback and who watches the split.
type Route struct {
	r        *Registry
	name     string
	v        *Version
	stable   *Version // the split's stable version; nil for a direct call
	canaryV  *Version // the split's canary, when it is ready
	observer Observer
	shadower Shadower
	canary   bool        // v is the canary
	done     func(Fault) // the canary guard's, when it let the call through
}

// Version is the version the call goes to.
func (rt *Route) Version() *Version { return rt.v }

// Resolve picks the version for a call. A named version bypasses the
// traffic policy; an unversioned call follows it (sticky by key), or goes
// to the highest serving version when the model has none. A canary call
// goes to stable when the model's observer refuses it (an open breaker).
func (r *Registry) Resolve(name, version, key string) (Route, error) {
	r.mu.RLock()
	rt, t, err := r.resolveLocked(name, version)
	r.mu.RUnlock()
	if err != nil || !t.split() {
		return rt, err
	}
	_, canary := t.pick(key)
	rt.v = rt.stable
	if canary && rt.canaryV != nil {
		ok := true
		if rt.observer != nil {
			rt.done, ok = rt.observer.AllowCanary()
		}
		if ok {
			rt.v, rt.canary = rt.canaryV, true
		}
	}
	if rt.v == nil {
		return rt, tensor.Errorf(tensor.Unavailable, "model %q: stable version %d of its traffic policy is not ready", name, t.Stable)
	}
	return rt, nil
}

// resolveLocked fills what the route needs from the model under r.mu; the
// traffic comes back only when the call follows a split.
func (r *Registry) resolveLocked(name, version string) (Route, Traffic, error) {
	rt := Route{r: r, name: name}
	m := r.models[name]
	if version != "" || m == nil || m.unloaded || !m.traffic.split() {
		v, err := r.lookupLocked(name, version)
		rt.v = v
		return rt, Traffic{}, err
	}
	t := m.traffic
	rt.stable, rt.canaryV = findVersion(m.versions, t.Stable), findVersion(m.versions, t.Canary)
	if t.Canary != 0 {
		rt.observer, rt.shadower = m.observer, m.shadower
	}
	return rt, t, nil
}

// Deferred is a call whose request is read only once the call is admitted:
// a front door's request body, which an overloaded server refuses unread.
type Deferred interface {
	// Request reads and decodes the call's request; an error is the
	// caller's (unreadable or malformed) and ends the call.
	Request() (*tensor.Request, error)
}

// InferDeferred resolves a call and refuses it at once when its model is
// not ready or its version's queue is full; only an admitted call has its
// request read, and then runs as Infer runs it. A call that passes this
// early check may still be refused by the queue's exact one.
func (r *Registry) InferDeferred(ctx context.Context, name, version, key string, d Deferred) (*tensor.Response, error) {
	rt, err := r.Resolve(name, version, key)
	if err != nil {
		return nil, err
	}
	if err := rt.v.batcher.Admit(); err != nil {
		rt.abandon()
		return nil, err
	}
	req, err := d.Request()
	if err != nil {
		rt.abandon()
		return nil, err
	}
	return rt.Infer(ctx, req)
}

// abandon ends a resolved route whose call will not run: the canary guard
// that let it through hears that it said nothing about the version.
func (rt *Route) abandon() {
	if rt.done != nil {
		rt.done(NotCounted)
		rt.done = nil
	}
}

// Infer resolves a call and runs it.
func (r *Registry) Infer(ctx context.Context, name, version, key string, req *tensor.Request) (*tensor.Response, error) {
	rt, err := r.Resolve(name, version, key)
	if err != nil {
		return nil, err
	}
	return rt.Infer(ctx, req)
}

// Infer runs req on the route's version, lets the version's sampler (drift
// monitoring) see it when it succeeds, and reports the call, once, to the
// observer (the rollout's windows), to the canary guard (its breaker) and
// to the shadower. A call that meets a version closing between lookup and
// admission (replaced or unloaded that instant) was never queued, so it
// goes again to what serves that version number now, or what serves the
// model: replacing a version loses no call.
func (rt *Route) Infer(ctx context.Context, req *tensor.Request) (*tensor.Response, error) {
	var start time.Time
	if rt.observer != nil { // only a watched split reads the call's latency
		start = time.Now()
	}
	v := rt.v
	resp, err := v.infer(ctx, req, true)
	for attempt := 0; errors.Is(err, batching.ErrClosed) && attempt < 3; attempt++ {
		if v = rt.r.successor(rt.name, v); v == nil {
			break
		}
		resp, err = v.infer(ctx, req, true)
	}
	if rt.observer == nil {
		return resp, err
	}
	f := Classify(ctx, req, v, err)
	if rt.done != nil {
		rt.done(f)
	}
	rt.observer.Observe(v.version, time.Since(start), f)
	if err == nil && !rt.canary && rt.canaryV != nil && rt.shadower != nil {
		rt.shadower.Shadow(v, rt.canaryV, req, resp)
	}
	return resp, err
}

// successor is what serves v's version number now, or else the model's
// highest serving version; nil when nothing serves.
func (r *Registry) successor(name string, v *Version) *Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	if m == nil || len(m.versions) == 0 {
		return nil
	}
	if nv := findVersion(m.versions, v.version); nv != nil && nv != v {
		return nv
	}
	if last := m.versions[len(m.versions)-1]; last != v {
		return last
	}
	return nil
}
