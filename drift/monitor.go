package drift

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime"
)

// Models is what the monitor needs of the registry: the models, their
// serving versions (cards, signatures, samplers) and their drift sections.
type Models interface {
	Names() []string
	Versions(name string) ([]*registry.Version, error)
	DriftSpec(name string) (json.RawMessage, error)
}

var _ Models = (*registry.Registry)(nil)

// Monitor keeps a live profile of every served version whose model has a
// drift section and whose card has a training profile, judges each
// version's drift on every tick, and triggers retraining for a version
// that keeps drifting.
type Monitor struct {
	models     Models
	cfg        Config
	dir        string // where a replica alone keeps each model's trigger record
	log        *slog.Logger
	metrics    *metrics
	hook       webhook
	source     string
	retryAfter time.Duration // after a failed delivery, before the episode tries again

	ctx    context.Context // ends at Close: deliveries in flight give up
	cancel context.CancelFunc
	wg     sync.WaitGroup // deliveries, waited for by Close

	// mu guards closed, fleet, watched and all they hold. Evaluate holds it
	// throughout (its only I/O is reading a model's trigger record file,
	// once); a delivery takes it to record its outcome. The request path
	// never takes it, nor do View, the metrics and DriftMeasurements, which
	// read snap.
	mu      sync.Mutex
	closed  bool
	fleet   Fleet
	watched map[string]*watch

	snap atomic.Pointer[snapshot] // the latest evaluation, replaced whole

	// delivered, when not nil, is signalled (at most one signal pending)
	// each time a delivery's outcome is recorded: tests wait on it rather
	// than poll. Set before the first Evaluate; nil in service.
	delivered chan struct{}
}

// watch is one monitored model.
type watch struct {
	spec     Spec
	versions map[int64]*watched
	record   *Trigger // alone: the last trigger of record, from the file
	loaded   bool     // record has been read
	latest   *Trigger // this replica's latest trigger decision
	sending  bool     // a delivery is in flight: one at a time per model
}

// watched is one served version of a monitored model.
type watched struct {
	ver    *registry.Version
	lay    layout
	key    string // profile and layout the live profile was made for
	live   *Live  // nil: not monitored, note says why
	note   string
	tr     tracker
	view   VersionView
	reason string // the drifting signals of the latest evaluation
}

// layout is what of a spec shapes a live profile's ring; the thresholds
// and the trigger can change without losing the windows.
type layout struct {
	window  registry.Duration
	slots   int
	rate    float64
	maxRows int
}

func (s Spec) layout() layout {
	return layout{window: s.Window, slots: s.Slots, rate: s.SampleRate, maxRows: s.MaxRowsPerCall}
}

// snapshot is what one evaluation saw, for readers that must not wait.
type snapshot struct {
	scope   string
	models  map[string]ModelView
	windows map[string]WindowSet // this replica's own, by "model/version"
	sampled map[string]int64     // rows sampled, by "model/version"
}

// New makes a monitor over models; dir is where a replica alone keeps the
// record of each model's last trigger (the repository's .sluice/drift).
// Metrics go on reg when it is not nil.
func New(models Models, cfg Config, dir string, log *slog.Logger, reg prometheus.Registerer) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Monitor{models: models, cfg: cfg, dir: dir, log: log, source: cfg.Source, retryAfter: 30 * time.Second,
		hook:    webhook{client: &http.Client{}, token: cfg.WebhookToken, tries: 3, timeout: cfg.WebhookTimeout, backoff: 500 * time.Millisecond},
		watched: map[string]*watch{}}
	if m.source == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "sluice"
		}
		m.source = "/sluice/" + host
	}
	var err error
	if m.metrics, err = newMetrics(m, reg); err != nil {
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.snap.Store(&snapshot{scope: ScopeReplica, models: map[string]ModelView{}, windows: map[string]WindowSet{}, sampled: map[string]int64{}})
	return m, nil
}

// WithFleet merges the other replicas' windows into each version's, and
// lets only the fleet's leader trigger, against the fleet's trigger
// record. Call it before Run.
func (m *Monitor) WithFleet(f Fleet) *Monitor {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fleet = f
	return m
}

// Run evaluates on each tick until ctx ends; cmd/ gives it a ticker, tests
// a channel they tick by hand. A panic in one evaluation is logged and the
// next tick tries again, rather than ending the process.
func (m *Monitor) Run(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticks:
			m.tick(ctx, now)
		}
	}
}

func (m *Monitor) tick(ctx context.Context, now time.Time) {
	defer func() {
		if v := recover(); v != nil {
			m.log.Error("drift evaluation panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	m.Evaluate(ctx, now)
}

// Close stops deliveries in flight and waits for them; no trigger starts
// after it.
func (m *Monitor) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// Evaluate moves every monitored version's window on to now, judges it,
// and triggers for a version drifting long enough. A panic while judging
// one model is logged and leaves the others judged.
func (m *Monitor) Evaluate(ctx context.Context, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := &snapshot{scope: m.scope(), models: map[string]ModelView{}, windows: map[string]WindowSet{}, sampled: map[string]int64{}}
	names := m.models.Names()
	for _, name := range names {
		if ctx.Err() != nil { // shutting down: keep the last evaluation
			return
		}
		m.evaluateModel(name, now, snap)
	}
	for name := range m.watched {
		if !slices.Contains(names, name) {
			m.forget(name)
		}
	}
	m.snap.Store(snap)
}

// scope is the view's scope; under mu.
func (m *Monitor) scope() string {
	if m.fleet != nil {
		return ScopeFleet
	}
	return ScopeReplica
}

func (m *Monitor) evaluateModel(name string, now time.Time, snap *snapshot) {
	defer func() {
		if v := recover(); v != nil {
			m.log.Error("drift evaluation panicked", "model", name, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	raw, err := m.models.DriftSpec(name)
	if err != nil || raw == nil {
		m.forget(name)
		return
	}
	vs, _ := m.models.Versions(name)
	mv := ModelView{Model: name, Scope: snap.scope, Replicas: 1, Versions: []VersionView{}}
	spec, err := ParseSpec(raw, DefaultSpec())
	if err != nil { // only when no check guarded the load (CheckDriftSpecs)
		m.forget(name)
		for _, v := range vs {
			mv.Versions = append(mv.Versions, VersionView{Version: v.Number(), Note: err.Error()})
		}
		snap.models[name] = mv
		return
	}
	w := m.watched[name]
	if w == nil {
		w = &watch{versions: map[int64]*watched{}}
		m.watched[name] = w
	}
	w.spec = spec
	served := map[int64]bool{}
	for _, v := range vs {
		served[v.Number()] = true
		vv, replicas := m.evaluateVersion(name, w, v, now, snap)
		mv.Versions = append(mv.Versions, vv)
		mv.Replicas = max(mv.Replicas, replicas)
	}
	maps.DeleteFunc(w.versions, func(num int64, _ *watched) bool { return !served[num] })
	m.maybeTrigger(name, w, now)
	mv.LastTrigger = m.lastTrigger(name, w)
	snap.models[name] = mv
}

// forget stops monitoring a model: its versions' samplers come off.
func (m *Monitor) forget(name string) {
	w := m.watched[name]
	if w == nil {
		return
	}
	for _, wv := range w.versions {
		if wv.live != nil && wv.ver.Sampler() == registry.Sampler(wv.live) {
			wv.ver.SetSampler(nil)
		}
	}
	delete(m.watched, name)
	// The other series come from the snapshot and go with it; counters
	// stay until deleted.
	m.metrics.triggers.DeletePartialMatch(prometheus.Labels{"model": name})
}

func (m *Monitor) evaluateVersion(name string, w *watch, v *registry.Version, now time.Time, snap *snapshot) (VersionView, int) {
	wv := m.attach(w, v, now)
	if wv.live == nil {
		return VersionView{Version: v.Number(), Note: wv.note}, 1
	}
	l, k := wv.live, key(name, v.Number())
	l.rotate(now)
	own := l.window()
	merged, replicas := m.merge(k, own, w.spec.Slot())
	ms := measure(l, merged)
	states, state, collecting := judgeAll(ms, merged.Rows, w.spec)
	wv.tr.observe(state, l.curStart)
	wv.view = versionView(v.Number(), l, merged, ms, states, state, collecting, &wv.tr, w.spec)
	wv.reason = reasons(ms, w.spec)
	snap.windows[k], snap.sampled[k] = own, l.Sampled()
	return wv.view, replicas
}

// key names a version in fleet windows and snapshots: "model/version".
func key(model string, version int64) string {
	return model + "/" + strconv.FormatInt(version, 10)
}

// attach finds or makes v's live profile and sets it as v's sampler. A
// reloaded version (a new *Version) whose card profile, signature and
// window layout are unchanged gets the same live profile: its windows and
// its drift state carry on.
func (m *Monitor) attach(w *watch, v *registry.Version, now time.Time) *watched {
	num, lay := v.Number(), w.spec.layout()
	old := w.versions[num]
	if old != nil && old.ver == v && old.lay == lay {
		if old.live != nil && v.Sampler() != registry.Sampler(old.live) {
			v.SetSampler(old.live)
		}
		return old
	}
	wv := &watched{ver: v, lay: lay}
	w.versions[num] = wv
	prof, note := cardProfile(v)
	if prof == nil {
		wv.note = note
		v.SetSampler(nil)
		return wv
	}
	wv.key = liveKey(prof, lay, v.Signature())
	if old != nil && old.live != nil && old.key == wv.key {
		wv.live, wv.tr = old.live, old.tr
	} else {
		live, err := NewLive(prof, v.Signature(), w.spec, now)
		if err != nil {
			wv.note = "the model card's profile does not fit the model: " + err.Error()
			v.SetSampler(nil)
			return wv
		}
		wv.live = live
	}
	v.SetSampler(wv.live)
	return wv
}

// cardProfile is the training profile in v's model card; nil and why not
// when there is none to monitor against.
func cardProfile(v *registry.Version) (*profile.Profile, string) {
	card := v.Card()
	if card == nil {
		return nil, "no model card (" + registry.CardFile + ") beside the model: publish versions with the pipeline to monitor them"
	}
	p, err := profile.FromCard(card)
	switch {
	case err != nil:
		return nil, "the model card's profile is unreadable: " + err.Error()
	case p == nil:
		return nil, "the model card has no training profile"
	}
	return p, ""
}

// liveKey is what a live profile was made for: the profile, the layout
// of its ring, and the signature it reads tensors by.
func liveKey(p *profile.Profile, lay layout, sig runtime.Signature) string {
	return fmt.Sprintf("%s|%v|%v|%v", profileHash(p), lay, sig.Inputs, sig.Outputs)
}
