package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
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
type Registry struct {
	cfg          Config
	log          *slog.Logger
	batchMetrics *batching.Metrics      // nil: statistics without export
	loadFailures *prometheus.CounterVec // nil without a Registerer

	ops   sync.Mutex // serializes loads, unloads and polls; guards files
	files map[string]fileStamp

	mu     sync.RWMutex // guards models and every Model's fields
	models map[string]*Model

	calls      *callMetrics // nil without a Registerer
	shadows    chan shadowJob
	shadowStop context.CancelFunc
	shadowDone chan struct{}
}

// Model is one named model: the versions that serve and what became of
// every version seen.
type Model struct {
	name     string
	versions []*Version              // serving, ascending; replaced whole, never edited
	states   map[int64]VersionStatus // every version seen, for the index
	unloaded bool                    // unloaded through the API: polling leaves it alone
	traffic  Traffic                 // how unversioned calls split
	// trafficSet is true once the admin API, a rollout or saved state has
	// set traffic; until then config.yaml's traffic applies.
	trafficSet bool
	rollout    *rollout       // the live rollout, progressing or paused
	last       *RolloutStatus // the latest rollout, for status after it ended
	spec       RolloutSpec    // the default rollout from config.yaml
}

// VersionStatus is one version's state and why it is in it.
type VersionStatus struct {
	State  string
	Reason string
}

// New returns an empty registry over cfg.Path; LoadAll fills it. Metrics
// are registered on reg when it is not nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Registry, error) {
	r := &Registry{cfg: cfg, log: log, files: map[string]fileStamp{}, models: map[string]*Model{},
		shadows: make(chan shadowJob, shadowQueue), shadowDone: make(chan struct{})}
	if reg != nil {
		var err error
		if r.calls, err = newCallMetrics(reg); err != nil {
			return nil, err
		}
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
	ctx, stop := context.WithCancel(context.Background())
	r.shadowStop = stop
	go r.runShadows(ctx)
	return r, nil
}

// Config is the configuration the registry runs with.
func (r *Registry) Config() Config { return r.cfg }

// LoadAll loads what the repository folder holds, as at start in every
// control mode. A model or version that fails is logged and recorded and
// the rest still load; only an unreadable repository folder is an error.
func (r *Registry) LoadAll(ctx context.Context) error {
	r.restoreRollouts()
	return r.Poll(ctx)
}

// Poll brings the loaded models in line with the folder: new models and
// versions load, changed ones (by content hash of model.onnx and
// config.yaml) reload, removed ones drain and unload. Models unloaded
// through the API are left alone.
func (r *Registry) Poll(ctx context.Context) error {
	r.ops.Lock()
	defer r.ops.Unlock()
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
		if m := r.model(e.Name()); m != nil && r.isUnloaded(m) {
			continue
		}
		r.syncModel(ctx, e.Name(), nil)
	}
	for _, name := range r.Names() {
		if !onDisk[name] {
			r.retire(ctx, name)
		}
	}
	return nil
}

// Watch polls on every tick until ctx ends; cmd/ gives it a ticker at
// repository.poll_interval, tests a channel they tick by hand.
func (r *Registry) Watch(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if err := r.Poll(ctx); err != nil {
				r.log.Error("polling the model repository", "err", err)
			}
		}
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

// setState records one version's state; under r.ops.
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
// highest serving version when version is empty.
func (r *Registry) Lookup(name, version string) (*Version, error) {
	r.mu.RLock()
	m := r.models[name]
	var vs []*Version
	var unloaded bool
	if m != nil {
		vs, unloaded = m.versions, m.unloaded
	}
	r.mu.RUnlock()
	switch {
	case m == nil:
		return nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	case unloaded:
		return nil, tensor.Errorf(tensor.Unavailable, "model %q is unloaded; load it with POST /v2/repository/models/%s/load", name, name)
	case version == "":
		if len(vs) == 0 {
			return nil, tensor.Errorf(tensor.Unavailable, "model %q has no ready version%s", name, r.failureNote(name))
		}
		return vs[len(vs)-1], nil
	}
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v <= 0 {
		return nil, tensor.Errorf(tensor.NotFound, "model %q: version %q not found, versions are positive integers", name, version)
	}
	if ver := findVersion(vs, v); ver != nil {
		return ver, nil
	}
	if st, ok := r.status(name, v); ok {
		return nil, tensor.Errorf(tensor.Unavailable, "model %q version %d is not ready: %s %s", name, v, st.State, st.Reason)
	}
	return nil, tensor.Errorf(tensor.NotFound, "model %q: version %d not found", name, v)
}

func (r *Registry) status(name string, v int64) (VersionStatus, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.models[name].states[v]
	return st, ok
}

func (r *Registry) failureNote(name string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for v, st := range r.models[name].states {
		if st.Reason != "" {
			return fmt.Sprintf(" (version %d: %s %s)", v, st.State, st.Reason)
		}
	}
	return ""
}

// Ready reports whether every model not unloaded on purpose serves.
func (r *Registry) Ready() bool {
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
	out := make([]string, 0, len(r.models))
	for n := range r.models {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
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

// Close stops the shadow worker, drains every version until ctx ends, then
// unloads them.
func (r *Registry) Close(ctx context.Context) error {
	r.shadowStop()
	<-r.shadowDone
	r.ops.Lock()
	defer r.ops.Unlock()
	r.mu.Lock()
	var all []*Version
	for _, m := range r.models {
		all = append(all, m.versions...)
	}
	r.models = map[string]*Model{}
	r.mu.Unlock()
	var errs []error
	for _, v := range all {
		if err := r.drain(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
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
