package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluice-serving/sluice/client"
)

// Result is one measurement: what was asked and what came back.
type Result struct {
	Label       string        `json:"label"`
	Mode        string        `json:"mode"`
	Protocol    string        `json:"protocol"` // http or grpc
	Rate        float64       `json:"rate,omitempty"`
	Concurrency int           `json:"concurrency"`
	Duration    time.Duration `json:"duration_ns"`
	Calls       int64         `json:"calls"`
	OK          int64         `json:"ok"`
	Throughput  float64       `json:"throughput"` // successful calls per second
	Status      map[int]int64 `json:"status"`
	Failed      int64         `json:"transport_errors"`
	Latency     Percentiles   `json:"latency_us"`
	LatencyOK   Percentiles   `json:"latency_ok_us"`      // calls answered 200
	Refusal     Percentiles   `json:"latency_refused_us"` // calls refused for load (503, 429)
	Refused     int64         `json:"refused"`
	// SendLag is how late the calls went out against their schedule (open
	// loop): a load generator short of CPU shows here, and every late
	// call's latency counts its lateness.
	SendLag  Percentiles      `json:"send_lag_us"`
	Versions map[string]int64 `json:"versions,omitempty"`
	Server   *ServerSplit     `json:"server,omitempty"`
	CPU      CPU              `json:"harness_cpu"`
	// ServerCPU is the server process's CPU during the run (warm-up and
	// windows), with Config.ServerPID; nil without.
	ServerCPU *ServerCPU   `json:"server_cpu,omitempty"`
	Windows   []WindowStat `json:"windows"`
	Stable    bool         `json:"stable"` // three windows in a row agreed
	hist      *hdr.Histogram
}

// WindowStat is one window of the run, for the over-time plot.
type WindowStat struct {
	Start      time.Duration `json:"start_ns"`
	Throughput float64       `json:"throughput"`
	Errors     int64         `json:"errors"`
	P99US      float64       `json:"p99_us"`
}

// ServerSplit is where the server says the time went, per call, from its
// statistics endpoint (Sluice's or Triton's).
type ServerSplit struct {
	Calls     int64   `json:"calls"`
	QueueUS   float64 `json:"queue_us"`
	InputUS   float64 `json:"compute_input_us"`
	InferUS   float64 `json:"compute_infer_us"`
	OutputUS  float64 `json:"compute_output_us"`
	Batches   int64   `json:"batches"`
	MeanBatch float64 `json:"mean_batch_rows"`
}

// ServerCPU is the server process's CPU over a run: cores, and per call
// begun (the server's cost of one call, all of it: protocol, queue,
// inference).
type ServerCPU struct {
	Cores     float64 `json:"cores"`
	PerCallUS float64 `json:"per_call_us"`
}

// CPU is the harness's own CPU use during the measurement.
type CPU struct {
	Seconds float64 `json:"seconds"`
	Cores   float64 `json:"cores"` // seconds of CPU per second of wall time
}

// Progress is what a live progress line shows.
type Progress struct {
	Elapsed    time.Duration
	Window     int
	Throughput float64
	P99        time.Duration
	Errors     int64
}

// Run measures one configuration: warm-up, then windows until three agree
// within cfg.Stable or cfg.MaxWindows pass. progress, when not nil, is
// called after each window.
func Run(ctx context.Context, cfg Config, progress func(Progress)) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := newRunner(cfg)
	prepared, err := r.prepare()
	if err != nil {
		return nil, err
	}
	before, _ := cfg.Client.Stats(ctx, cfg.Model)
	cpu0, srv0 := cpuTime(), ProcessCPU(cfg.ServerPID)
	res := r.run(ctx, prepared, progress)
	res.Protocol = prepared[0].Protocol()
	res.CPU.Seconds = (cpuTime() - cpu0).Seconds()
	res.CPU.Cores = res.CPU.Seconds / (cfg.Warmup + res.Duration).Seconds()
	if srv1 := ProcessCPU(cfg.ServerPID); cfg.ServerPID > 0 && srv1 > 0 && r.n.Load() > 0 {
		secs := (srv1 - srv0).Seconds()
		res.ServerCPU = &ServerCPU{Cores: secs / (cfg.Warmup + res.Duration).Seconds(), PerCallUS: secs / float64(r.n.Load()) * 1e6}
	}
	if after, err := cfg.Client.Stats(ctx, cfg.Model); err == nil {
		res.Server = split(before, after, cfg.Version)
	}
	return res, ctx.Err()
}

type runner struct {
	cfg     Config
	start   time.Time // of the warm-up
	measure time.Time // of the first window
	// Workers record into a few shards of windows, merged when read, so
	// that callers seldom meet on a window's lock, and a loop of thousands
	// of callers keeps a few histograms per window, not thousands. ok
	// counts the successes of each window for the live stability check.
	windows [][]*window // per shard, per window; fixed before workers start
	ok      []atomic.Int64
	stop    atomic.Bool
	n       atomic.Int64 // calls begun
	pmu     sync.Mutex   // guards rng and nextAt, the Poisson schedule
	rng     *rand.Rand
	nextAt  time.Duration
}

func newRunner(cfg Config) *runner {
	return &runner{cfg: cfg, rng: rand.New(rand.NewPCG(1, 2)), ok: make([]atomic.Int64, cfg.MaxWindows)}
}

// intended is the time call i should be sent in an open loop.
func (r *runner) intended(i int64) time.Time {
	if !r.cfg.Poisson {
		return r.start.Add(time.Duration(float64(i) / r.cfg.Rate * float64(time.Second)))
	}
	r.pmu.Lock()
	defer r.pmu.Unlock()
	at := r.nextAt
	r.nextAt += time.Duration(r.rng.ExpFloat64() / r.cfg.Rate * float64(time.Second))
	return r.start.Add(at)
}

func (r *runner) run(ctx context.Context, prepared []*client.Prepared, progress func(Progress)) *Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.start = time.Now()
	r.measure = r.start.Add(r.cfg.Warmup)
	r.windows = make([][]*window, min(r.cfg.Concurrency, 2*goruntime.GOMAXPROCS(0)))
	for i := range r.windows {
		r.windows[i] = make([]*window, r.cfg.MaxWindows)
		for j := range r.windows[i] {
			r.windows[i][j] = newWindow()
		}
	}
	var wg sync.WaitGroup
	for w := range r.cfg.Concurrency {
		wg.Go(func() { r.worker(ctx, prepared[w%len(prepared)], r.windows[w%len(r.windows)]) })
	}
	measured := r.watch(ctx, progress)
	r.stop.Store(true)
	cancel()
	wg.Wait()
	return r.result(measured)
}

// prepare encodes the call once per routing key (or once); a call that
// cannot be encoded (data that does not fit its shape) fails the run
// before it starts.
func (r *runner) prepare() ([]*client.Prepared, error) {
	n := max(r.cfg.RoutingKeys, 1)
	out := make([]*client.Prepared, 0, n)
	for k := range n {
		opt := r.cfg.Options
		if r.cfg.RoutingKeys > 0 {
			opt.RoutingKey = "bench-" + strconv.Itoa(k)
		}
		p, err := r.cfg.Client.Prepare(r.cfg.Model, r.cfg.Version, r.cfg.Inputs, opt)
		if err != nil {
			return nil, fmt.Errorf("bench: preparing the call to %s: %w", r.cfg.Model, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (r *runner) worker(ctx context.Context, p *client.Prepared, mine []*window) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	caller := r.cfg.Client.NewCaller(p)
	for !r.stop.Load() {
		i := r.n.Add(1) - 1
		sent := time.Now()
		if r.cfg.Mode == Open {
			sent = r.intended(i)
			if d := time.Until(sent); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
		}
		began := time.Now()
		res, err := caller.Call(began.Add(r.cfg.Timeout))
		done := time.Now()
		if r.stop.Load() {
			return // the measurement ended while this call was out
		}
		// Latency runs from the intended send time: a call held back by a
		// stalled server counts its wait.
		if i := r.windowAt(done); i >= 0 {
			mine[i].record(done.Sub(sent), began.Sub(sent), res.Status, res.Version, err)
			if err == nil && res.Status == 200 {
				r.ok[i].Add(1)
			}
		}
	}
}

// windowAt is the index of the window t falls in, or -1.
func (r *runner) windowAt(t time.Time) int {
	if t.Before(r.measure) {
		return -1
	}
	i := int(t.Sub(r.measure) / r.cfg.Window)
	if i >= r.cfg.MaxWindows {
		return -1
	}
	return i
}

// merged is window i over every shard.
func (r *runner) merged(i int) *window {
	m := newWindow()
	for _, ws := range r.windows {
		m.absorb(ws[i])
	}
	return m
}

// watch waits out the warm-up and the windows, and returns how many were
// measured.
func (r *runner) watch(ctx context.Context, progress func(Progress)) int {
	for k := 1; k <= r.cfg.MaxWindows; k++ {
		end := r.measure.Add(time.Duration(k) * r.cfg.Window)
		select {
		case <-ctx.Done():
			return k - 1
		case <-time.After(time.Until(end)):
		}
		if progress != nil {
			ok, failed, p99 := r.merged(k - 1).snapshot()
			progress(Progress{Elapsed: time.Since(r.start), Window: k, Throughput: float64(ok) / r.cfg.Window.Seconds(), P99: p99, Errors: failed})
		}
		if k >= r.cfg.MinWindows && r.agree(k) {
			return k
		}
	}
	return r.cfg.MaxWindows
}

// agree reports whether the last three windows' throughputs are within
// cfg.Stable of their mean.
func (r *runner) agree(k int) bool {
	if k < 3 {
		return false
	}
	var t [3]float64
	for j := range 3 {
		t[j] = float64(r.ok[k-3+j].Load())
	}
	mean := (t[0] + t[1] + t[2]) / 3
	for _, v := range t {
		if mean == 0 || math.Abs(v-mean) > r.cfg.Stable*mean {
			return false
		}
	}
	return true
}

func (r *runner) result(k int) *Result {
	res := &Result{Label: r.cfg.Label, Mode: r.cfg.Mode, Concurrency: r.cfg.Concurrency, Status: map[int]int64{},
		Versions: map[string]int64{}, hist: newHist(), Duration: time.Duration(k) * r.cfg.Window}
	if r.cfg.Mode == Open {
		res.Rate = r.cfg.Rate
	}
	total := newWindow()
	for i := range k {
		w := r.merged(i)
		total.absorb(w)
		res.Windows = append(res.Windows, WindowStat{Start: time.Duration(i) * r.cfg.Window, Throughput: float64(w.ok) / r.cfg.Window.Seconds(),
			Errors: w.hist.TotalCount() - w.ok, P99US: float64(w.hist.ValueAtQuantile(99))})
	}
	res.hist, res.OK, res.Failed, res.Status, res.Versions = total.hist, total.ok, total.failed, total.status, total.versions
	res.Calls = res.hist.TotalCount()
	if res.Duration > 0 {
		res.Throughput = float64(res.OK) / res.Duration.Seconds()
	}
	res.Latency = percentiles(res.hist)
	res.LatencyOK, res.Refusal, res.Refused = percentiles(total.okHist), percentiles(total.refused), total.refused.TotalCount()
	res.SendLag = percentiles(total.lag)
	res.Stable = k < r.cfg.MaxWindows || r.agree(k)
	return res
}

// split turns two statistics readings into per-call server times.
func split(before, after []client.ModelStats, version string) *ServerSplit {
	var s ServerSplit
	var q, in, inf, out, rows int64
	for _, a := range after {
		if version != "" && a.Version != version {
			continue
		}
		b := findStats(before, a.Version)
		s.Calls += a.InferenceStats.Success.Count - b.InferenceStats.Success.Count
		q += a.InferenceStats.Queue.NS - b.InferenceStats.Queue.NS
		in += a.InferenceStats.ComputeInput.NS - b.InferenceStats.ComputeInput.NS
		inf += a.InferenceStats.ComputeInfer.NS - b.InferenceStats.ComputeInfer.NS
		out += a.InferenceStats.ComputeOutput.NS - b.InferenceStats.ComputeOutput.NS
		s.Batches += a.ExecutionCount - b.ExecutionCount
		rows += a.InferenceCount - b.InferenceCount
	}
	if s.Calls == 0 {
		return nil
	}
	c := float64(s.Calls) * 1000
	s.QueueUS, s.InputUS, s.InferUS, s.OutputUS = float64(q)/c, float64(in)/c, float64(inf)/c, float64(out)/c
	if s.Batches > 0 {
		s.MeanBatch = float64(rows) / float64(s.Batches)
	}
	return &s
}

func findStats(list []client.ModelStats, version string) client.ModelStats {
	for _, s := range list {
		if s.Version == version {
			return s
		}
	}
	return client.ModelStats{}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
