package batching

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports every version's batching statistics to Prometheus under
// Triton's nv_inference_* names where Triton has one and sluice_* for the
// rest. Counters are updated on the request path through children looked up
// once per version; gauges are read from Stats at scrape time.
type Metrics struct {
	success, failure, count, exec                  *prometheus.CounterVec
	requestUS, queueUS, inputUS, inferUS, outputUS *prometheus.CounterVec
	rejected, expired, panics                      *prometheus.CounterVec
	batchSize, latency                             *prometheus.HistogramVec
	queueDepth, inflight, busy, cpu, pending       *prometheus.Desc

	mu       sync.Mutex // guards versions
	versions map[[2]string]*Stats
}

var versionLabels = []string{"model", "version"}

func counter(name, help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, versionLabels)
}

// NewMetrics registers the batching metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		success:   counter("nv_inference_request_success", "Inference calls answered successfully."),
		failure:   counter("nv_inference_request_failure", "Inference calls that failed while running."),
		count:     counter("nv_inference_count", "Rows inferred (a batch of 8 rows counts 8)."),
		exec:      counter("nv_inference_exec_count", "Batches run."),
		requestUS: counter("nv_inference_request_duration_us", "Cumulative time from queueing to answer, in microseconds."),
		queueUS:   counter("nv_inference_queue_duration_us", "Cumulative time calls waited in the queue, in microseconds."),
		inputUS:   counter("nv_inference_compute_input_duration_us", "Cumulative time copying inputs into batch buffers, in microseconds."),
		inferUS:   counter("nv_inference_compute_infer_duration_us", "Cumulative time running batches, in microseconds."),
		outputUS:  counter("nv_inference_compute_output_duration_us", "Cumulative time slicing outputs back to calls, in microseconds."),
		rejected:  counter("sluice_requests_rejected_total", "Calls refused because the queue was full."),
		expired:   counter("sluice_requests_expired_total", "Calls whose deadline passed before they were answered."),
		panics:    counter("sluice_batch_panics_total", "Batches whose run panicked; their calls failed with an internal error."),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_batch_size", Help: "Rows per batch run.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}, versionLabels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_request_duration_seconds",
			Help:    "Time from queueing to answer of each call, by the version that served it.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, versionLabels),
		queueDepth: prometheus.NewDesc("sluice_queue_depth", "Calls waiting in the queue now.", versionLabels, nil),
		inflight:   prometheus.NewDesc("sluice_inflight_requests", "Calls in running batches now.", versionLabels, nil),
		pending: prometheus.NewDesc("nv_inference_pending_request_count",
			"Calls waiting to run now (Triton's name for the queue depth).", versionLabels, nil),
		busy: prometheus.NewDesc("sluice_instance_busy_seconds_total",
			"Seconds the version's instances spent running batches, summed over instances: its rate over the instance count is their busy share.", versionLabels, nil),
		cpu: prometheus.NewDesc("sluice_instance_cpu_seconds_total",
			"CPU seconds the threads of the version's instances spent running batches (inference and the copies around it).", versionLabels, nil),
		versions: map[[2]string]*Stats{},
	}
	for _, c := range []prometheus.Collector{m.success, m.failure, m.count, m.exec, m.requestUS, m.queueUS,
		m.inputUS, m.inferUS, m.outputUS, m.rejected, m.expired, m.panics, m.batchSize, m.latency, m} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// versionMetrics are one version's metric children.
type versionMetrics struct {
	success, failure, count, exec                  prometheus.Counter
	requestUS, queueUS, inputUS, inferUS, outputUS prometheus.Counter
	rejected, expired, panics                      prometheus.Counter
	batchSize, latency                             prometheus.Observer
}

// NewStats makes the statistics of one version, exported under its labels
// (m may be nil: statistics without export).
func (m *Metrics) NewStats(model, version string, maxBatch int) *Stats {
	if m == nil {
		return NewStats(maxBatch, nil)
	}
	l := []string{model, version}
	vm := &versionMetrics{
		success: m.success.WithLabelValues(l...), failure: m.failure.WithLabelValues(l...),
		count: m.count.WithLabelValues(l...), exec: m.exec.WithLabelValues(l...),
		requestUS: m.requestUS.WithLabelValues(l...), queueUS: m.queueUS.WithLabelValues(l...),
		inputUS: m.inputUS.WithLabelValues(l...), inferUS: m.inferUS.WithLabelValues(l...),
		outputUS: m.outputUS.WithLabelValues(l...), rejected: m.rejected.WithLabelValues(l...),
		expired: m.expired.WithLabelValues(l...), panics: m.panics.WithLabelValues(l...),
		batchSize: m.batchSize.WithLabelValues(l...), latency: m.latency.WithLabelValues(l...),
	}
	s := NewStats(maxBatch, vm)
	m.mu.Lock()
	m.versions[[2]string{model, version}] = s
	m.mu.Unlock()
	return s
}

// Remove drops a version's series once it is unloaded, unless a newer load
// of the same version (a replacement) has taken them over since.
func (m *Metrics) Remove(model, version string, s *Stats) {
	if m == nil {
		return
	}
	m.mu.Lock()
	current := m.versions[[2]string{model, version}]
	m.mu.Unlock()
	if current != s {
		return
	}
	for _, v := range []*prometheus.CounterVec{m.success, m.failure, m.count, m.exec, m.requestUS, m.queueUS, m.inputUS, m.inferUS, m.outputUS, m.rejected, m.expired, m.panics} {
		v.DeleteLabelValues(model, version)
	}
	m.batchSize.DeleteLabelValues(model, version)
	m.latency.DeleteLabelValues(model, version)
	m.mu.Lock()
	delete(m.versions, [2]string{model, version})
	m.mu.Unlock()
}

// Describe and Collect export the gauges and the busy time read from Stats.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.queueDepth
	ch <- m.inflight
	ch <- m.busy
	ch <- m.cpu
	ch <- m.pending
}

func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.versions {
		ch <- prometheus.MustNewConstMetric(m.queueDepth, prometheus.GaugeValue, float64(s.Queued()), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(s.Queued()), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.inflight, prometheus.GaugeValue, float64(s.InFlight()), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.busy, prometheus.CounterValue, time.Duration(s.Busy.Load()).Seconds(), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.cpu, prometheus.CounterValue, time.Duration(s.CPU.Load()).Seconds(), k[0], k[1])
	}
}

func (vm *versionMetrics) call(d time.Duration, ok bool) {
	if ok {
		vm.success.Inc()
	} else {
		vm.failure.Inc()
	}
	vm.requestUS.Add(float64(d.Microseconds()))
	vm.latency.Observe(d.Seconds())
}

func (vm *versionMetrics) batch(bt *Batch) {
	vm.exec.Inc()
	vm.count.Add(float64(bt.Rows))
	vm.inputUS.Add(float64(bt.InputTime.Microseconds()))
	vm.inferUS.Add(float64(bt.InferTime.Microseconds()))
	vm.outputUS.Add(float64(bt.OutputTime.Microseconds()))
	vm.batchSize.Observe(float64(bt.Rows))
}

var _ prometheus.Collector = (*Metrics)(nil)
