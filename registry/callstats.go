package registry

import (
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// window counts one version's calls, errors and latencies since the
// current rollout step began; the analysis reads it.
type window struct {
	mu     sync.Mutex // guards the fields below
	calls  int64
	errors int64
	lat    *hdr.Histogram // microseconds
}

func newWindow() *window {
	return &window{lat: hdr.New(1, 60_000_000, 2)}
}

func (w *window) observe(d time.Duration, failed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if failed {
		w.errors++
	}
	_ = w.lat.RecordValue(max(d.Microseconds(), 1)) // values past a minute clamp away; they fail the check anyway
}

// snapshot returns calls, errors and the p99 latency.
func (w *window) snapshot() (calls, errors int64, p99 time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls, w.errors, time.Duration(w.lat.ValueAtQuantile(99)) * time.Microsecond
}

// callMetrics are the per-version call metrics and the per-model rollout
// metrics.
type callMetrics struct {
	calls      *prometheus.CounterVec   // model, version, outcome
	latency    *prometheus.HistogramVec // model, version
	weight     *prometheus.GaugeVec     // model, version
	state      *prometheus.GaugeVec     // model, state: 1 for the current state
	step       *prometheus.GaugeVec     // model
	transition *prometheus.CounterVec   // model, to: started, advanced, paused, resumed, promoted, aborted
	rollbacks  *prometheus.CounterVec   // model
	promotions *prometheus.CounterVec   // model
	shadow     *prometheus.CounterVec   // model, outcome: agree, disagree, failed, dropped
	shadowDiff *prometheus.GaugeVec     // model: max absolute difference in the current step
	agreement  *prometheus.GaugeVec     // model: agreement in the current step
}

func newCallMetrics(reg prometheus.Registerer) (*callMetrics, error) {
	m := &callMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_version_requests_total",
			Help: "Inference calls by the version that served them and outcome (success or error)."}, []string{"model", "version", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_version_request_duration_seconds",
			Help: "Inference call latency by serving version.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"model", "version"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_traffic_weight_percent",
			Help: "Share of unversioned calls each version receives, in percent."}, []string{"model", "version"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_rollout_state",
			Help: "1 for the model's current rollout state."}, []string{"model", "state"}),
		step: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_rollout_step",
			Help: "Index of the rollout's current step (0-based)."}, []string{"model"}),
		transition: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_rollout_transitions_total",
			Help: "Rollout transitions by the state or step entered."}, []string{"model", "to"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_rollout_rollbacks_total",
			Help: "Rollouts aborted, by hand or by their analysis or breaker."}, []string{"model"}),
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_rollout_promotions_total",
			Help: "Rollouts whose canary became stable."}, []string{"model"}),
		shadow: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_shadow_requests_total",
			Help: "Shadow copies by outcome: agree, disagree, failed, dropped."}, []string{"model", "outcome"}),
		shadowDiff: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_shadow_max_abs_diff",
			Help: "Largest absolute output difference between candidate and primary in the current step."}, []string{"model"}),
		agreement: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_shadow_agreement_ratio",
			Help: "Share of shadow copies whose class agreed with the primary in the current step."}, []string{"model"}),
	}
	for _, c := range []prometheus.Collector{m.transition, m.calls, m.latency, m.weight, m.state, m.step, m.rollbacks, m.promotions, m.shadow, m.shadowDiff, m.agreement} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
