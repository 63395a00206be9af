package autoscale

import (
	"sort"
	"sync"
	"time"
)

// ModelLoad is one model's load on this replica, as the registry counts it.
type ModelLoad struct {
	Model     string
	InFlight  int64 // calls running now
	Queued    int64 // calls waiting now
	Arrivals  int64 // calls ever submitted
	Rows      int64 // rows ever inferred
	Busy      time.Duration
	Instances int
}

// LoadSource is what the recommender reads each tick.
type LoadSource interface {
	Load() []ModelLoad
}

// ModelSignals are one model's derived signals over the stable window, as
// exported and shown at /v2/admin/autoscale.
type ModelSignals struct {
	Model       string   `json:"model"`
	Concurrency float64  `json:"concurrency"`  // in flight + queued, stable-window mean
	ArrivalRate float64  `json:"arrival_rate"` // calls/s
	Utilization float64  `json:"utilization"`  // instance busy fraction
	Capacity    float64  `json:"capacity"`     // rows/s this replica serves when busy
	Saturation  float64  `json:"saturation"`   // arrival rate over capacity
	Decision    Decision `json:"decision"`
}

// Recommender keeps each model's windows and decision state. Its owner
// calls Tick on a clock it chooses; the mutex lets the admin API read.
type Recommender struct {
	cfg      Config
	replicas int // replicas sharing the load, from configuration

	mu     sync.Mutex // guards models
	models map[string]*modelState
}

type modelState struct {
	conc            *Window
	last            ModelLoad
	lastAt          time.Time
	rate, util, cap *Window
	state           State
	signals         ModelSignals
	lastArrival     time.Time
}

// NewRecommender recommends for cfg.Replicas replicas sharing the load
// evenly: this replica's load stands for each of them.
func NewRecommender(cfg Config) *Recommender {
	return &Recommender{cfg: cfg, replicas: max(cfg.Replicas, 1), models: map[string]*modelState{}}
}

// Tick samples the load at now and decides for every model.
func (r *Recommender) Tick(now time.Time, loads []ModelLoad) []ModelSignals {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, l := range loads {
		seen[l.Model] = true
		m := r.models[l.Model]
		if m == nil {
			w := r.cfg.StableWindow
			m = &modelState{conc: NewWindow(w), rate: NewWindow(w), util: NewWindow(w), cap: NewWindow(w), last: l, lastAt: now}
			r.models[l.Model] = m
		}
		r.sample(now, m, l)
	}
	for name := range r.models {
		if !seen[name] {
			delete(r.models, name) // unloaded
		}
	}
	return r.snapshotLocked()
}

func (r *Recommender) sample(now time.Time, m *modelState, l ModelLoad) {
	dt := now.Sub(m.lastAt).Seconds()
	if l.Arrivals > m.last.Arrivals || l.InFlight+l.Queued > 0 {
		m.lastArrival = now
	}
	m.conc.Add(now, float64(l.InFlight+l.Queued))
	if dt > 0 {
		m.rate.Add(now, float64(l.Arrivals-m.last.Arrivals)/dt)
		busy := (l.Busy - m.last.Busy).Seconds()
		m.util.Add(now, busy/(dt*float64(max(l.Instances, 1))))
		if busy > 0 {
			m.cap.Add(now, float64(l.Rows-m.last.Rows)/busy*float64(max(l.Instances, 1)))
		}
	}
	m.last, m.lastAt = l, now
	sig := ModelSignals{Model: l.Model, Concurrency: m.conc.Average(now, r.cfg.StableWindow), ArrivalRate: m.rate.Average(now, r.cfg.StableWindow),
		Utilization: m.util.Average(now, r.cfg.StableWindow), Capacity: m.cap.Average(now, r.cfg.StableWindow)}
	if sig.Capacity > 0 {
		sig.Saturation = sig.ArrivalRate / sig.Capacity
	}
	// Concurrency one replica sustains: its instances, each running a batch.
	capConc := float64(max(l.Instances, 1))
	n := float64(r.replicas)
	sig.Decision, m.state = Decide(now, r.cfg, Signals{
		StableConcurrency: sig.Concurrency * n, PanicConcurrency: m.conc.Average(now, r.cfg.PanicWindow) * n,
		Capacity: capConc, ReadyReplicas: r.replicas, LastArrival: m.lastArrival,
	}, m.state)
	m.signals = sig
}

// Snapshot is the latest signals and decisions, by model.
func (r *Recommender) Snapshot() []ModelSignals {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshotLocked()
}

func (r *Recommender) snapshotLocked() []ModelSignals {
	out := make([]ModelSignals, 0, len(r.models))
	for _, m := range r.models {
		out = append(out, m.signals)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}
