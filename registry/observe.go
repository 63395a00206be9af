package registry

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sluice-serving/sluice/tensor"
)

// Observer watches the calls a model's traffic split routes and guards its
// canary; the rollout controller attaches one per live rollout.
type Observer interface {
	// AllowCanary is asked before a call goes to the canary. When ok is
	// false the call goes to stable instead; when it is true, done is
	// called exactly once with the call's fault.
	AllowCanary() (done func(Fault), ok bool)
	// Observe records one routed call: the version that served it, its
	// latency and whose fault a failure was.
	Observe(version int64, d time.Duration, f Fault)
}

// Shadower may copy a stable call that succeeded to the canary. It is
// called on the request path and must not block or keep req and resp past
// its return without copying them.
type Shadower interface {
	Shadow(primary, canary *Version, req *tensor.Request, resp *tensor.Response)
}

// Sampler profiles the calls a version serves (drift monitoring attaches
// one per monitored version). It is called on the request path after a
// successful routed call, with the checked inputs in signature order and
// every model output in signature order, whatever the call asked for; it
// must not block, allocate or keep the tensors, whose bytes may borrow the
// request's body. Shadow copies and calls made on a Version directly are
// not sampled: they are not traffic the model serves.
type Sampler interface {
	Sample(inputs, outputs []tensor.Tensor)
}

// Fault says what a call's end tells about the version that served it.
type Fault uint8

// Faults.
const (
	// NoFault: the version answered.
	NoFault Fault = iota
	// VersionFault: the version failed by itself: a model or runtime
	// error, or its own timeout expired.
	VersionFault
	// NotCounted: the failure says nothing of the version: bad input, a
	// deadline the caller set or shortened, a caller gone, a full queue, a
	// version draining or reloading.
	NotCounted
)

// Classify decides whose fault a call's error is: only a version's own
// faults may count against a canary.
func Classify(ctx context.Context, req *tensor.Request, v *Version, err error) Fault {
	if err == nil {
		return NoFault
	}
	switch tensor.KindOf(err) {
	case tensor.Internal:
		return VersionFault
	case tensor.DeadlineExceeded:
		if callerDeadline(ctx, req, v) {
			return NotCounted
		}
		return VersionFault
	}
	return NotCounted
}

// callerDeadline reports whether the caller, not the version's own
// default_timeout, set the deadline that expired: the context's, or a
// "timeout" parameter or Request.Timeout shorter than the model's.
func callerDeadline(ctx context.Context, req *tensor.Request, v *Version) bool {
	if ctx.Err() != nil {
		return true
	}
	// The batcher evicts a call at its context's deadline, a hair before
	// the context itself reports it.
	if d, ok := ctx.Deadline(); ok && time.Until(d) < time.Millisecond {
		return true
	}
	own := time.Duration(v.cfg.DefaultTimeout)
	_, timeout, err := callParameters(req.Parameters)
	timeout = shorter(timeout, req.Timeout)
	return err == nil && timeout > 0 && (own == 0 || timeout < own)
}

// Attach sets who watches and shadows a model's traffic split (nil, nil:
// nobody). The rollout controller attaches a live rollout before it gives
// the canary weight, and detaches it when the rollout ends.
func (r *Registry) Attach(name string, o Observer, s Shadower) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[name]
	if m == nil {
		return tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	m.observer, m.shadower = o, s
	return nil
}

// Traffic returns a model's traffic policy.
func (r *Registry) Traffic(name string) (Traffic, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	if m == nil {
		return Traffic{}, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	return m.traffic, nil
}

// RolloutSpec returns config.yaml's rollout section of a model (nil when
// it has none), for the rollout controller to read.
func (r *Registry) RolloutSpec(name string) (json.RawMessage, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	if m == nil {
		return nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	return m.rollout, nil
}

// DriftSpec returns config.yaml's drift section of a model (nil when it
// has none: the model is not monitored), for drift monitoring to read.
func (r *Registry) DriftSpec(name string) (json.RawMessage, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	if m == nil {
		return nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	return m.drift, nil
}

// SetTraffic sets a model's split. Routing follows at once; when the set
// of versions it names changes, the model is synced under its control lock
// so that named versions load (whatever the version_policy says) and
// versions no longer named may unload. A named version that is not ready
// afterwards is an Unavailable error; calls then go to the others.
func (r *Registry) SetTraffic(ctx context.Context, name string, t Traffic) error {
	if err := t.Validate(); err != nil {
		return tensor.WithKind(tensor.InvalidArgument, err)
	}
	r.mu.Lock()
	m := r.models[name]
	if m == nil {
		r.mu.Unlock()
		return tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	same := m.traffic.Stable == t.Stable && m.traffic.Canary == t.Canary
	m.traffic, m.trafficSet = t, true
	r.mu.Unlock()
	if same && r.servesAll(name, t.pins()) {
		return nil
	}
	return r.control(name, func() error {
		r.syncModel(ctx, name, nil)
		for _, v := range t.pins() {
			if !r.servesAll(name, []int64{v}) {
				return tensor.Errorf(tensor.Unavailable, "model %q: version %d is not ready; calls go to the others", name, v)
			}
		}
		return nil
	})
}

func (r *Registry) servesAll(name string, vs []int64) bool {
	serving := r.servingOf(name)
	for _, v := range vs {
		if findVersion(serving, v) == nil {
			return false
		}
	}
	return true
}
