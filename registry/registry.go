package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/tensor"
)

// Registry holds every model of the repository and their loaded versions.
type Registry struct {
	cfg     Config
	log     *slog.Logger
	metrics *batching.Metrics // nil: statistics without export

	mu     sync.RWMutex // guards models
	models map[string]*Model
}

// Model is one named model: its versions and why any of them failed.
type Model struct {
	Name     string
	Versions []*Version      // loaded and warmed, ascending
	Failures map[int64]error // versions that did not load, with the reason
}

// New returns an empty registry over cfg.Path; LoadAll fills it. Versions
// export their statistics through metrics when it is not nil.
func New(cfg Config, log *slog.Logger, metrics *batching.Metrics) *Registry {
	return &Registry{cfg: cfg, log: log, metrics: metrics, models: map[string]*Model{}}
}

// LoadAll loads every version of every model in the repository folder. A
// model or version that fails is logged and recorded, and the rest still
// load; only an unreadable repository folder is an error.
func (r *Registry) LoadAll(ctx context.Context) error {
	entries, err := os.ReadDir(r.cfg.Path)
	if err != nil {
		return fmt.Errorf("repository.path: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		m := r.loadModel(ctx, e.Name())
		r.mu.Lock()
		r.models[m.Name] = m
		r.mu.Unlock()
	}
	return nil
}

func (r *Registry) loadModel(ctx context.Context, name string) *Model {
	dir := filepath.Join(r.cfg.Path, name)
	m := &Model{Name: name, Failures: map[int64]error{}}
	cfg, cfgErr := ReadModelConfig(dir)
	for _, v := range r.versionFolders(dir, name) {
		if cfgErr != nil {
			m.Failures[v] = fmt.Errorf("model %q: %w", name, cfgErr)
			r.log.Error("model config invalid", "model", name, "err", cfgErr)
			continue
		}
		ver, err := loadVersion(ctx, name, v, filepath.Join(dir, strconv.FormatInt(v, 10), "model.onnx"), cfg, r.metrics)
		if err != nil {
			m.Failures[v] = err
			r.log.Error("model version failed to load", "model", name, "version", v, "err", err)
			continue
		}
		r.log.Info("model version ready", "model", name, "version", v, "instances", cfg.Instances)
		m.Versions = append(m.Versions, ver)
	}
	return m
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

// Lookup returns the version that serves a call: the named one, or the
// highest loaded version when version is empty.
func (r *Registry) Lookup(name, version string) (*Version, error) {
	r.mu.RLock()
	m := r.models[name]
	r.mu.RUnlock()
	if m == nil {
		return nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	if version == "" {
		if len(m.Versions) == 0 {
			return nil, tensor.Errorf(tensor.Unavailable, "model %q has no ready version%s", name, failureNote(m))
		}
		return m.Versions[len(m.Versions)-1], nil
	}
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v <= 0 {
		return nil, tensor.Errorf(tensor.NotFound, "model %q: version %q not found, versions are positive integers", name, version)
	}
	for _, ver := range m.Versions {
		if ver.version == v {
			return ver, nil
		}
	}
	if ferr, ok := m.Failures[v]; ok {
		return nil, tensor.Errorf(tensor.Unavailable, "model %q version %d is not ready: %v", name, v, ferr)
	}
	return nil, tensor.Errorf(tensor.NotFound, "model %q: version %d not found", name, v)
}

func failureNote(m *Model) string {
	for v, err := range m.Failures {
		return fmt.Sprintf(" (version %d failed: %v)", v, err)
	}
	return ""
}

// Ready reports whether every model has at least one ready version.
func (r *Registry) Ready() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.models {
		if len(m.Versions) == 0 {
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

// Versions lists a model's ready versions, ascending.
func (r *Registry) Versions(name string) ([]*Version, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.models[name]
	if m == nil {
		return nil, tensor.Errorf(tensor.NotFound, "model %q not found", name)
	}
	return slices.Clone(m.Versions), nil
}

// Close drains every version's queue until ctx ends, then unloads them.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	models := r.models
	r.models = map[string]*Model{}
	r.mu.Unlock()
	var errs []error
	for _, m := range models {
		for _, v := range m.Versions {
			if err := v.close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("model %q version %s: %w", m.Name, v.label, err))
			}
			r.metrics.Remove(m.Name, v.label)
		}
	}
	return errors.Join(errs...)
}
