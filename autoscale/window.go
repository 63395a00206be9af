package autoscale

import "time"

// Window keeps timestamped samples for averaging over a trailing period.
// It is not safe for concurrent use; its owner serializes access.
type Window struct {
	keep    time.Duration
	samples []sample
}

type sample struct {
	at    time.Time
	value float64
}

// NewWindow keeps samples for keep (the longest window averaged).
func NewWindow(keep time.Duration) *Window { return &Window{keep: keep} }

// Add records a sample at now and forgets those older than keep.
func (w *Window) Add(now time.Time, v float64) {
	w.samples = append(w.samples, sample{now, v})
	cut := 0
	for cut < len(w.samples) && now.Sub(w.samples[cut].at) > w.keep {
		cut++
	}
	w.samples = w.samples[cut:]
}

// Average is the mean of the samples in the last d before now (0 if none).
func (w *Window) Average(now time.Time, d time.Duration) float64 {
	sum, n := 0.0, 0
	for i := len(w.samples) - 1; i >= 0 && now.Sub(w.samples[i].at) <= d; i-- {
		sum += w.samples[i].value
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
