package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/tensor"
)

// Version states, as Triton's repository index names them.
const (
	StateLoading     = "LOADING"
	StateReady       = "READY"
	StateUnloading   = "UNLOADING"
	StateUnavailable = "UNAVAILABLE"
)

// Registry holds every model of the repository and their loaded versions.
//
// Locks, in the order they may be taken: a model's control lock (ops),
// then mu, then filesMu. No lock is shared across models while a model
// loads, warms or drains: those run under the model's own control lock.
type Registry struct {
	cfg          Config
	log          *slog.Logger
	batchMetrics *batching.Metrics      // nil: statistics without export
	loadFailures *prometheus.CounterVec // nil without a Registerer

	// mu guards models, ops, specCheck, driftCheck and every Model's
	// fields. It is held only to read or swap those, never across a load, a
	// drain or a call.
	mu         sync.RWMutex
	models     map[string]*Model
	ops        map[string]*sync.Mutex // per model name, never removed: serialises its control operations
	specCheck  func([]byte) error     // checks config.yaml's rollout section; nil: any
	driftCheck func([]byte) error     // checks config.yaml's drift section; nil: any

	filesMu sync.Mutex // guards files
	files   map[string]fileStamp

	// loaded turns true when the first LoadAll has finished: until then the
	// server is live but not ready, and an unknown model may still come.
	loaded atomic.Bool
}

// Model is one named model: the versions that serve and what became of
// every version seen.
type Model struct {
	name     string
	versions []*Version              // serving, ascending; replaced whole, never edited
	states   map[int64]VersionStatus // every version seen, for the index
	unloaded bool                    // unloaded through the API: polling leaves it alone
	traffic  Traffic                 // how unversioned calls split
	// trafficSet is true once SetTraffic has been called; until then
	// config.yaml's traffic applies.
	trafficSet bool
	observer   Observer        // told of routed calls during a rollout; nil: none
	shadower   Shadower        // copies stable calls to the canary; nil: none
	rollout    json.RawMessage // config.yaml's rollout section, for the rollout controller
	drift      json.RawMessage // config.yaml's drift section, for drift monitoring; nil: not monitored
}

// VersionStatus is one version's state and why it is in it.
type VersionStatus struct {
	State  string
	Reason string
}

// New returns an empty registry over cfg.Path; LoadAll fills it. Metrics
// are registered on reg when it is not nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Registry, error) {
	r := &Registry{cfg: cfg, log: log, files: map[string]fileStamp{}, models: map[string]*Model{}, ops: map[string]*sync.Mutex{}}
	if reg != nil {
		var err error
		if r.batchMetrics, err = batching.NewMetrics(reg); err != nil {
			return nil, err
		}
		r.loadFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_model_load_failures_total", Help: "Model versions that failed to load, by model.",
		}, []string{"model"})
		if err := reg.Register(r.loadFailures); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Config is the configuration the registry runs with.
func (r *Registry) Config() Config { return r.cfg }

// CheckRolloutSpecs makes config.yaml's rollout section part of a model's
// configuration check: check gets the section as JSON and names what is
// wrong. The rollout controller sets it before the first load.
func (r *Registry) CheckRolloutSpecs(check func([]byte) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.specCheck = check
}

// CheckDriftSpecs makes config.yaml's drift section part of a model's
// configuration check, as CheckRolloutSpecs does for its rollout section.
// Drift monitoring sets it before the first load.
func (r *Registry) CheckDriftSpecs(check func([]byte) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.driftCheck = check
}

// LoadAll loads what the repository folder holds, as at start in every
// control mode. A model or version that fails is logged and recorded and
// the rest still load; only an unreadable repository folder is an error.
func (r *Registry) LoadAll(ctx context.Context) error {
	err := r.Poll(ctx)
	r.loaded.Store(err == nil)
	return err
}

// Poll brings the loaded models in line with the folder: new models and
// versions load, changed ones (by content hash of model.onnx and
// config.yaml) reload, removed ones drain and unload. Models unloaded
// through the API are left alone. Each model is synced under its own
// control lock, so an operation on another model never waits for it.
func (r *Registry) Poll(ctx context.Context) error {
	entries, err := os.ReadDir(r.cfg.Path)
	if err != nil {
		return fmt.Errorf("repository.path: %w", err)
	}
	onDisk := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		onDisk[e.Name()] = true
		r.control(e.Name(), func() error {
			if m := r.model(e.Name()); m == nil || !r.isUnloaded(m) {
				r.syncModel(ctx, e.Name(), nil)
			}
			return nil
		})
	}
	for _, name := range r.Names() {
		if !onDisk[name] {
			r.control(name, func() error { r.retire(ctx, name); return nil })
		}
	}
	return nil
}

// control runs fn under the model's control lock: operations on one model
// happen one at a time, operations on different models side by side.
func (r *Registry) control(name string, fn func() error) error {
	r.mu.Lock()
	l := r.ops[name]
	if l == nil {
		l = &sync.Mutex{}
		r.ops[name] = l
	}
	r.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	return fn()
}

// Watch polls on every tick until ctx ends; cmd/ gives it a ticker at
// repository.poll_interval, tests a channel they tick by hand.
func (r *Registry) Watch(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			r.pollOnce(ctx)
		}
	}
}

// pollOnce is one Watch tick; a panic while syncing is logged and the next
// tick tries again, rather than ending the process.
func (r *Registry) pollOnce(ctx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("polling the model repository panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	if err := r.Poll(ctx); err != nil {
		r.log.Error("polling the model repository", "err", err)
	}
}

func (r *Registry) model(name string) *Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.models[name]
}

func (r *Registry) isUnloaded(m *Model) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return m.unloaded
}

// setState records one version's state.
func (r *Registry) setState(name string, v int64, state, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entryLocked(name).states[v] = VersionStatus{state, reason}
}

// entryLocked returns the model's entry, making it on first sight; under
// r.mu held for writing.
func (r *Registry) entryLocked(name string) *Model {
	m := r.models[name]
	if m == nil {
		m = &Model{name: name, states: map[int64]VersionStatus{}}
		r.models[name] = m
	}
	return m
}

// Lookup returns the version that serves a call: the named one, or the
// highest serving version when version is empty. Everything it reads of
// the model it reads under one hold of r.mu, since a concurrent retire may
// remove the model the moment the lock is released.
func (r *Registry) Lookup(name, version string) (*Version, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lookupLocked(name, version)
}

func (r *Registry) lookupLocked(name, version string) (*Version, error) {
	m := r.models[name]
	switch {
	case m == nil && !r.loaded.Load():
		return nil, tensor.Errorf(tensor.Unavailable, "model %q: the model repository is still loading", name)
	case m == nil:
		return nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	case m.unloaded:
		return nil, tensor.Errorf(tensor.Unavailable, "model %q is unloaded; load it with POST /v2/repository/models/%s/load", name, name)
	case version == "":
		if len(m.versions) == 0 {
			return nil, tensor.Errorf(tensor.Unavailable, "model %q has no ready version%s", name, failureNote(m))
		}
		return m.versions[len(m.versions)-1], nil
	}
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v <= 0 {
		return nil, tensor.Errorf(tensor.NotFound, "model %q: version %q not found, versions are positive integers", name, version)
	}
	if ver := findVersion(m.versions, v); ver != nil {
		return ver, nil
	}
	if st, ok := m.states[v]; ok {
		return nil, tensor.Errorf(tensor.Unavailable, "model %q version %d is not ready: %s %s", name, v, st.State, st.Reason)
	}
	return nil, tensor.Errorf(tensor.NotFound, "model %q: version %d not found", name, v)
}

// failureNote names a failed version of m, if any; under r.mu.
func failureNote(m *Model) string {
	for _, v := range slices.Sorted(maps.Keys(m.states)) {
		if st := m.states[v]; st.Reason != "" {
			return fmt.Sprintf(" (version %d: %s %s)", v, st.State, st.Reason)
		}
	}
	return ""
}

// Ready reports whether the repository has loaded and every model not
// unloaded on purpose serves.
func (r *Registry) Ready() bool {
	if !r.loaded.Load() {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.models {
		if len(m.versions) == 0 && !m.unloaded {
			return false
		}
	}
	return true
}

// Names lists the models, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.models))
}

// Versions lists a model's serving versions, ascending.
func (r *Registry) Versions(name string) ([]*Version, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	if m == nil {
		return nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	return slices.Clone(m.versions), nil
}

// Close drains every version, side by side, until ctx ends, then unloads
// them.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	var all []*Version
	for _, m := range r.models {
		all = append(all, m.versions...)
	}
	r.models = map[string]*Model{}
	r.mu.Unlock()
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, v := range all {
		wg.Go(func() { errs[i] = r.drain(ctx, v) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// drain closes v's batcher (its queued and running calls finish) and
// destroys its sessions.
func (r *Registry) drain(ctx context.Context, v *Version) error {
	err := v.close(ctx)
	r.batchMetrics.Remove(v.name, v.label, v.Stats())
	if err != nil {
		return fmt.Errorf("model %q version %s: %w", v.name, v.label, err)
	}
	return nil
}

// versionFolders lists the positive-integer folders of a model, ascending;
// anything else is skipped with a warning.
func (r *Registry) versionFolders(dir, name string) []int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.log.Warn("model folder unreadable", "model", name, "err", err)
		return nil
	}
	var out []int64
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		v, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || v <= 0 {
			r.log.Warn("ignoring folder that is not a positive version number", "model", name, "folder", e.Name())
			continue
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}
