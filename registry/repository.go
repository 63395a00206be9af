package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// syncModel loads what the model's folder and version policy ask for and
// unloads the rest; under the model's control lock. override, when not nil, replaces
// config.yaml or config.pbtxt. A version that fails to load never replaces one that
// serves: if any wanted version fails, nothing is unloaded this time.
func (r *Registry) syncModel(ctx context.Context, name string, override *configSource) error {
	dir := filepath.Join(r.cfg.Path, name)
	src := override
	if src == nil {
		src = r.readModelConfig(dir)
	}
	onDisk := r.versionFolders(dir, name)
	if src.err != nil {
		err := fmt.Errorf("model %q: %w", name, src.err)
		for _, v := range onDisk {
			r.recordFailure(name, v, err)
		}
		return tensor.WithKind(tensor.InvalidArgument, err)
	}
	cur, traffic := r.adoptConfig(name, src.cfg)
	wanted := src.cfg.VersionPolicy.Select(onDisk)
	for _, p := range traffic.pins() {
		if slices.Contains(onDisk, p) && !slices.Contains(wanted, p) {
			wanted = append(wanted, p) // traffic names it: it stays loaded whatever the policy
		}
	}
	slices.Sort(wanted)
	next, replaced, failed := r.loadWanted(ctx, name, dir, src, cur, wanted)
	var drop []*Version
	for _, old := range cur {
		if slices.Contains(next, old) || slices.Contains(replaced, old) {
			continue
		}
		if failed != nil { // keep what serves until its successor works
			next = append(next, old)
		} else {
			drop = append(drop, old)
		}
	}
	slices.SortFunc(next, func(a, b *Version) int { return int(a.version - b.version) })
	r.publish(name, next, false)
	r.drainAll(ctx, replaced, "replaced by a new load of its files or config")
	r.drainAll(ctx, drop, "no longer selected by version_policy, or its folder was removed")
	return failed
}

// adoptConfig takes the model's default rollout, its drift section and,
// unless SetTraffic has set it, its traffic from config.yaml; it returns
// the serving versions and the traffic in force.
func (r *Registry) adoptConfig(name string, cfg ModelConfig) ([]*Version, Traffic) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.entryLocked(name)
	m.rollout = cfg.Rollout
	m.drift = cfg.Drift
	if !m.trafficSet {
		m.traffic = cfg.Traffic
	}
	return m.versions, m.traffic
}

// configSource is a model's configuration and the bytes it came from,
// which are part of every version's content hash.
type configSource struct {
	cfg ModelConfig
	raw []byte
	err error
	// ignored are the config.pbtxt fields Sluice does not honour, named
	// in one warning when versions load with it.
	ignored []string
}

// loadWanted loads each wanted version that is new or changed and keeps the
// unchanged ones. It returns the versions to serve, the replaced ones, and
// the first load error.
func (r *Registry) loadWanted(ctx context.Context, name, dir string, src *configSource, cur []*Version, wanted []int64) (next, drop []*Version, failed error) {
	for _, v := range wanted {
		path := filepath.Join(dir, strconv.FormatInt(v, 10), "model.onnx")
		old := findVersion(cur, v)
		h, err := r.contentHash(path, src.raw)
		if err == nil && old != nil && old.hash == h {
			next = append(next, old)
			continue
		}
		r.setState(name, v, StateLoading, "")
		if len(src.ignored) > 0 {
			r.log.Warn(src.cfg.fileName()+" sets fields Sluice does not support; they are ignored", "model", name, "fields", strings.Join(src.ignored, ", "))
			src.ignored = nil // one warning per load of the file, however many versions
		}
		start := time.Now()
		var nv *Version
		if err == nil {
			nv, err = loadVersion(ctx, name, v, path, src.cfg, r.batchMetrics, r.log)
		}
		if err != nil {
			err = loadError(err)
			r.recordFailure(name, v, err)
			failed = cmpOr(failed, err)
			if old != nil {
				next = append(next, old)
			}
			continue
		}
		nv.hash = h
		r.log.Info("model version ready", "model", name, "version", v, "sessions", nv.Instances(), "load_time", time.Since(start).Round(time.Millisecond))
		next = append(next, nv)
		if old != nil {
			drop = append(drop, old)
		}
	}
	return next, drop, failed
}

// loadError classifies a version's load failure. One the runtime gave a
// kind keeps it: a missing GPU provider is Unavailable, a failed warm-up
// run Internal. Any other came from the version's own files (model.onnx
// missing, unreadable or not a model; config.yaml not fitting it), which
// the caller must fix: the load API answers it as a bad request, not a
// server fault.
func loadError(err error) error {
	var kinded *tensor.Error
	if errors.As(err, &kinded) {
		return err
	}
	return tensor.WithKind(tensor.InvalidArgument, err)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func findVersion(vs []*Version, v int64) *Version {
	for _, ver := range vs {
		if ver.version == v {
			return ver
		}
	}
	return nil
}

func (r *Registry) recordFailure(name string, v int64, err error) {
	r.setState(name, v, StateUnavailable, err.Error())
	r.log.Error("model version failed to load", "model", name, "version", v, "err", err)
	if r.loadFailures != nil {
		r.loadFailures.WithLabelValues(name).Inc()
	}
}

// publish makes vs the model's serving versions; readiness follows at once.
// A version that served before and whose reload just failed stays READY,
// with the failure as its reason, so the index shows why its new files
// are not serving.
func (r *Registry) publish(name string, vs []*Version, unloaded bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.entryLocked(name)
	prev := m.versions
	m.versions, m.unloaded = vs, unloaded
	for _, v := range vs {
		st := VersionStatus{StateReady, ""}
		if old := m.states[v.version]; old.State == StateUnavailable && slices.Contains(prev, v) {
			st.Reason = "serving its earlier load; reloading it failed: " + old.Reason
		}
		m.states[v.version] = st
	}
}

// drainAll unloads versions no longer served, side by side: their queued
// and running calls finish (up to repository.drain_timeout), then their
// sessions go.
func (r *Registry) drainAll(ctx context.Context, vs []*Version, reason string) {
	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Go(func() { r.drainOne(ctx, v, reason) })
	}
	wg.Wait()
}

func (r *Registry) drainOne(ctx context.Context, v *Version, reason string) {
	if !r.stillServed(v) {
		r.setState(v.name, v.version, StateUnloading, reason)
	}
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, r.cfg.DrainTimeout)
	err := r.drain(dctx, v)
	cancel()
	if !r.stillServed(v) && findVersion(r.servingOf(v.name), v.version) == nil {
		r.setState(v.name, v.version, StateUnavailable, "unloaded: "+reason)
	}
	r.log.Info("model version unloaded", "model", v.name, "version", v.version, "drain_time", time.Since(start).Round(time.Millisecond), "err", err)
}

func (r *Registry) servingOf(name string) []*Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if m := r.models[name]; m != nil {
		return m.versions
	}
	return nil
}

func (r *Registry) stillServed(v *Version) bool {
	return slices.Contains(r.servingOf(v.name), v)
}

// retire drains every version of a model whose folder is gone and forgets it.
func (r *Registry) retire(ctx context.Context, name string) {
	vs := r.servingOf(name)
	r.publish(name, nil, false)
	r.drainAll(ctx, vs, "model folder removed")
	r.mu.Lock()
	delete(r.models, name)
	r.mu.Unlock()
}

// Load (re)loads a model from the repository through the API, with an
// optional configuration that replaces its config.yaml. It waits only for
// operations on the same model.
func (r *Registry) Load(ctx context.Context, name string, config []byte) error {
	if r.cfg.ControlMode == ModeNone {
		return tensor.Errorf(tensor.InvalidArgument, "repository.control_mode is none: models load only at start")
	}
	if st, err := os.Stat(filepath.Join(r.cfg.Path, name)); err != nil || !st.IsDir() {
		return tensor.Errorf(tensor.NotFound, "model %q not found in the repository %s", name, r.cfg.Path)
	}
	var src *configSource
	if config != nil {
		var err error
		if src, err = r.parseOverride(name, config); err != nil {
			return tensor.Errorf(tensor.InvalidArgument, "model %q: parameters.config: %w", name, err)
		}
	}
	return r.control(name, func() error { return r.syncModel(ctx, name, src) })
}

// parseOverride reads a configuration sent with a load: Sluice's
// (config.yaml's keys, in YAML or JSON) or, as Triton's clients send it,
// Triton's ModelConfig in JSON. Sluice's is tried first; the error of the
// form the text was meant as is the one returned.
func (r *Registry) parseOverride(name string, config []byte) (*configSource, error) {
	cfg := DefaultModelConfig()
	serr := r.parseConfig(config, &cfg)
	if serr == nil {
		return &configSource{cfg: cfg, raw: config}, nil
	}
	var tc tritonpb.ModelConfig
	if protojson.Unmarshal(config, &tc) != nil {
		return nil, serr
	}
	cfg = DefaultModelConfig()
	ignored, err := FromTriton(&tc, name, &cfg)
	if err == nil {
		err = r.checkRollout(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("Triton's ModelConfig: %w", err)
	}
	cfg.file = "parameters.config"
	return &configSource{cfg: cfg, raw: config, ignored: ignored}, nil
}

// Unload stops a model serving at once and drains its versions.
func (r *Registry) Unload(ctx context.Context, name string) error {
	if r.cfg.ControlMode == ModeNone {
		return tensor.Errorf(tensor.InvalidArgument, "repository.control_mode is none: models unload only at shutdown")
	}
	return r.control(name, func() error {
		if r.model(name) == nil {
			return tensor.Errorf(tensor.NotFound, "model %q is not loaded", name)
		}
		vs := r.servingOf(name)
		r.publish(name, nil, true)
		r.drainAll(ctx, vs, "unloaded through the repository API")
		return nil
	})
}

// IndexEntry is one row of the repository index.
type IndexEntry struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	State   string `json:"state,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Index lists every model in the repository folder or loaded, with each
// version's state and reason; readyOnly keeps the READY ones.
func (r *Registry) Index(readyOnly bool) []IndexEntry {
	names := map[string]bool{}
	if entries, err := os.ReadDir(r.cfg.Path); err == nil {
		for _, e := range entries {
			if e.IsDir() && e.Name()[0] != '.' {
				names[e.Name()] = true
			}
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for n := range r.models {
		names[n] = true
	}
	var out []IndexEntry
	for _, n := range slices.Sorted(maps.Keys(names)) {
		m := r.models[n]
		if m == nil || len(m.states) == 0 {
			if !readyOnly {
				out = append(out, IndexEntry{Name: n, State: StateUnavailable, Reason: "not loaded"})
			}
			continue
		}
		for _, v := range slices.Sorted(maps.Keys(m.states)) {
			st := m.states[v]
			if !readyOnly || st.State == StateReady {
				out = append(out, IndexEntry{Name: n, Version: strconv.FormatInt(v, 10), State: st.State, Reason: st.Reason})
			}
		}
	}
	return out
}

// fileStamp caches a file's content hash by size and modification time,
// so polling reads a model file again only when it changed.
type fileStamp struct {
	size int64
	mod  time.Time
	hash uint64
}

// contentHash hashes a version's model file with its config bytes. The
// file is read outside filesMu: two models hash side by side.
func (r *Registry) contentHash(path string, config []byte) (uint64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("model file: %w", err)
	}
	r.filesMu.Lock()
	fs, ok := r.files[path]
	r.filesMu.Unlock()
	if !ok || fs.size != st.Size() || !fs.mod.Equal(st.ModTime()) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("model file: %w", err)
		}
		fs = fileStamp{size: st.Size(), mod: st.ModTime(), hash: xxhash.Sum64(b)}
		r.filesMu.Lock()
		r.files[path] = fs
		r.filesMu.Unlock()
	}
	return fs.hash ^ xxhash.Sum64(config)*31, nil
}
