package rollout

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// window counts one version's calls, faults and latencies since the last
// verdict; the analysis reads its summary. Its owner's lock guards it.
type window struct {
	calls  int64
	faults int64
	lat    *hdr.Histogram // microseconds, of the calls that counted
}

func newWindow() *window {
	return &window{lat: hdr.New(1, 60_000_000, 2)}
}

func (w *window) observe(d time.Duration, fault bool) {
	w.calls++
	if fault {
		w.faults++
	}
	_ = w.lat.RecordValue(max(d.Microseconds(), 1)) // values past a minute clamp away; they fail the check anyway
}

// Summary is what the analysis reads of one version's window.
type Summary struct {
	Calls  int64
	Faults int64
	P99    time.Duration
}

// data is the window as a replica publishes it.
func (w *window) data() WindowData {
	return WindowData{Calls: w.calls, Faults: w.faults, Latency: w.lat.Export()}
}

// merge adds another replica's window; one whose histogram cannot be read
// adds its counts alone.
func (w *window) merge(d WindowData) {
	w.calls += d.Calls
	w.faults += d.Faults
	if d.Latency != nil {
		w.lat.Merge(hdr.Import(d.Latency))
	}
}

func (w *window) summary() Summary {
	return Summary{Calls: w.calls, Faults: w.faults, P99: time.Duration(w.lat.ValueAtQuantile(99)) * time.Microsecond}
}

// Shadows is what the analysis reads of the shadow comparisons.
type Shadows struct {
	Compared int64   // candidate answers compared with the primary's
	Agreed   int64   // of which agreed
	MaxDiff  float64 // largest absolute numeric difference seen
}

func (s *Shadows) add(agree bool, diff float64) {
	s.Compared++
	if agree {
		s.Agreed++
	}
	s.MaxDiff = max(s.MaxDiff, diff)
}
