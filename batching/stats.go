package batching

import (
	"sync/atomic"
	"time"
)

// Duration is a count of events and their summed time, as Triton's
// statistics extension reports them.
type Duration struct {
	count, ns atomic.Int64
}

func (d *Duration) add(t time.Duration) {
	d.count.Add(1)
	d.ns.Add(int64(t))
}

// Count and NS read the totals.
func (d *Duration) Count() int64 { return d.count.Load() }
func (d *Duration) NS() int64    { return d.ns.Load() }

// BatchSizeStats are the compute times of batches of one size.
type BatchSizeStats struct {
	Size                 int
	Input, Infer, Output Duration
}

// Stats are one model version's running statistics, kept with atomics so
// the request path never takes a lock for them.
type Stats struct {
	Success, Fail, Queue           Duration
	ComputeInput, ComputeInfer     Duration
	ComputeOutput                  Duration
	InferenceCount, ExecutionCount atomic.Int64 // rows inferred; batches run
	LastInference                  atomic.Int64 // unix milliseconds
	Rejected, Expired              atomic.Int64
	Panics                         atomic.Int64 // batches whose run panicked
	Arrivals                       atomic.Int64 // calls submitted, admitted or not
	Busy                           atomic.Int64 // nanoseconds instances spent running batches
	CPU                            atomic.Int64 // nanoseconds of CPU the instances' threads spent on them
	queued, inflight               atomic.Int64
	bySize                         []BatchSizeStats // index: batch rows; 0 unused
	prom                           *versionMetrics
}

// NewStats makes statistics for batches of up to maxBatch rows (a call of
// any size when maxBatch is 0), exported through m when m is not nil.
func NewStats(maxBatch int, m *versionMetrics) *Stats {
	s := &Stats{bySize: make([]BatchSizeStats, max(maxBatch, 64)+1), prom: m}
	for i := range s.bySize {
		s.bySize[i].Size = i
	}
	return s
}

// Queued and InFlight are the calls waiting and running now.
func (s *Stats) Queued() int64   { return s.queued.Load() }
func (s *Stats) InFlight() int64 { return s.inflight.Load() }

// BatchSizes lists the sizes that have run, ascending.
func (s *Stats) BatchSizes() []*BatchSizeStats {
	var out []*BatchSizeStats
	for i := range s.bySize {
		if s.bySize[i].Infer.Count() > 0 {
			out = append(out, &s.bySize[i])
		}
	}
	return out
}

func (s *Stats) reject() {
	s.Rejected.Add(1)
	if s.prom != nil {
		s.prom.rejected.Inc()
	}
}

func (s *Stats) expire() {
	s.Expired.Add(1)
	if s.prom != nil {
		s.prom.expired.Inc()
	}
}

func (s *Stats) runPanicked() {
	s.Panics.Add(1)
	if s.prom != nil {
		s.prom.panics.Inc()
	}
}

func (s *Stats) observeQueue(d time.Duration) {
	s.Queue.add(d)
	if s.prom != nil {
		s.prom.queueUS.Add(float64(d.Microseconds()))
	}
}

func (s *Stats) observeCall(d time.Duration, ok bool) {
	if ok {
		s.Success.add(d)
	} else {
		s.Fail.add(d)
	}
	if s.prom != nil {
		s.prom.call(d, ok)
	}
}

func (s *Stats) observeBatch(bt *Batch, start, end time.Time) {
	s.Busy.Add(int64(end.Sub(start)))
	s.ExecutionCount.Add(1)
	s.InferenceCount.Add(int64(bt.Rows))
	s.LastInference.Store(end.UnixMilli())
	s.ComputeInput.add(bt.InputTime)
	s.ComputeInfer.add(bt.InferTime)
	s.ComputeOutput.add(bt.OutputTime)
	if bt.Rows < len(s.bySize) {
		bs := &s.bySize[bt.Rows]
		bs.Input.add(bt.InputTime)
		bs.Infer.add(bt.InferTime)
		bs.Output.add(bt.OutputTime)
	}
	if s.prom != nil {
		s.prom.batch(bt)
	}
}
