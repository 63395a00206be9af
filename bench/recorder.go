package bench

import (
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// maxLatency bounds what a histogram records (values above clamp to it).
const maxLatency = int64(5 * time.Minute / time.Microsecond)

func newHist() *hdr.Histogram { return hdr.New(1, maxLatency, 3) }

// window is one measurement window: its calls by outcome and latency.
type window struct {
	mu       sync.Mutex // guards the fields below
	hist     *hdr.Histogram
	okHist   *hdr.Histogram // calls answered 200
	refused  *hdr.Histogram // calls refused for load: 503 and 429
	lag      *hdr.Histogram // open loop: how late calls were sent
	ok       int64
	status   map[int]int64
	failed   int64 // transport errors and timeouts
	versions map[string]int64
}

func newWindow() *window {
	return &window{hist: newHist(), okHist: newHist(), refused: newHist(), lag: newHist(), status: map[int]int64{}, versions: map[string]int64{}}
}

func (w *window) record(lat, lag time.Duration, status int, version string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.lag.RecordValue(min(max(lag.Microseconds(), 1), maxLatency))
	us := min(max(lat.Microseconds(), 1), maxLatency)
	_ = w.hist.RecordValue(us)
	switch {
	case err != nil:
		w.failed++
	case status == 200:
		w.ok++
		w.status[status]++
		_ = w.okHist.RecordValue(us)
		if version != "" {
			w.versions[version]++
		}
	default:
		w.status[status]++
		if status == 503 || status == 429 {
			_ = w.refused.RecordValue(us)
		}
	}
}

// absorb adds o's calls to w's.
func (w *window) absorb(o *window) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w.hist.Merge(o.hist)
	w.okHist.Merge(o.okHist)
	w.refused.Merge(o.refused)
	w.lag.Merge(o.lag)
	w.ok += o.ok
	w.failed += o.failed
	for s, n := range o.status {
		w.status[s] += n
	}
	for v, n := range o.versions {
		w.versions[v] += n
	}
}

func (w *window) snapshot() (ok, failed int64, p99 time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok, w.failed, time.Duration(w.hist.ValueAtQuantile(99)) * time.Microsecond
}

// Percentiles are latencies in microseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func percentiles(h *hdr.Histogram) Percentiles {
	return Percentiles{
		P50: float64(h.ValueAtQuantile(50)), P90: float64(h.ValueAtQuantile(90)), P95: float64(h.ValueAtQuantile(95)),
		P99: float64(h.ValueAtQuantile(99)), P999: float64(h.ValueAtQuantile(99.9)), Max: float64(h.Max()), Mean: h.Mean(),
	}
}
