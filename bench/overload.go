package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-serving/sluice/client"
)

// OverloadConfig is one overload measurement: an open loop at Multiple
// times the server's capacity, while a prober asks for readiness and
// /metrics as an orchestrator would, and the server's memory and
// goroutines are sampled before, during and after.
type OverloadConfig struct {
	// Call is the call sent: Client, Model, Version, Inputs, Options and
	// Timeout are used; the loop's own fields are set here. Its client may
	// speak HTTP or gRPC.
	Call Config
	// URL is the server's HTTP base URL, for the prober's own connections
	// (readiness and /metrics are probed over HTTP, as a kubelet and
	// Prometheus do, whatever the load's protocol).
	URL string
	// Capacity is the calls/s the server sustains; 0 measures it first,
	// closed loop with CapacityCallers callers.
	Capacity        float64
	CapacityCallers int
	Multiple        float64
	Duration        time.Duration // of the overload, after Warmup
	Warmup          time.Duration // overload not counted in goodput
	Connections     int           // most calls in flight, as many connections
	ProbeEvery      time.Duration // readiness probes
	SampleEvery     time.Duration // memory, goroutines and /metrics latency
	Settle          time.Duration // after the load, before the after sample
	// ServerPID, when the server runs on this machine, lets its resident
	// memory and CPU be read from /proc; 0 reads memory from /metrics.
	ServerPID int
	// Watcher runs the prober and sampler until its context ends. nil
	// runs Watch in this process, where the load's own goroutines delay
	// the probes' answers; `sluice bench` runs it in a process of its own,
	// as a kubelet probes from outside.
	Watcher func(ctx context.Context, w WatchConfig) (*WatchResult, error)
}

// WatchConfig is what a watcher probes and samples.
type WatchConfig struct {
	URL         string        `json:"url"`
	Model       string        `json:"model"` // whose instances' busy time is read
	ProbeEvery  time.Duration `json:"probe_every"`
	SampleEvery time.Duration `json:"sample_every"`
	ServerPID   int           `json:"server_pid"`
}

// WatchResult is what a watcher saw.
type WatchResult struct {
	Probe         Percentiles `json:"probe_us"`
	ProbeFailures int64       `json:"probe_failures"`
	Scrape        Percentiles `json:"scrape_us"`
	Samples       []Sample    `json:"samples"`
}

// DefaultOverload is 3× capacity for 60 s over up to 2,048 connections,
// probing every 50 ms.
func DefaultOverload() OverloadConfig {
	return OverloadConfig{CapacityCallers: 16, Multiple: 3, Duration: 60 * time.Second, Warmup: 2 * time.Second,
		Connections: 2048, ProbeEvery: 50 * time.Millisecond, SampleEvery: time.Second, Settle: 5 * time.Second}
}

// Sample is the server's state at one moment.
type Sample struct {
	At         time.Duration `json:"at_ns"` // since the overload began
	RSS        int64         `json:"rss_bytes"`
	Goroutines int64         `json:"goroutines"`
	// Busy and CPU are the model's sluice_instance_busy_seconds_total
	// and sluice_instance_cpu_seconds_total so far.
	Busy float64 `json:"busy_seconds"`
	CPU  float64 `json:"cpu_seconds"`
}

// OverloadResult is what an overload measurement found.
type OverloadResult struct {
	Capacity     float64 `json:"capacity"` // calls/s, closed loop
	Rate         float64 `json:"rate"`     // calls/s offered
	Load         *Result `json:"load"`
	GoodputRatio float64 `json:"goodput_ratio"` // 200s per second ÷ capacity
	// Probe is the latency of readiness probes during the overload, and
	// Scrape of /metrics; failures are probes with no 200 in a second.
	Probe         Percentiles `json:"probe_us"`
	ProbeFailures int64       `json:"probe_failures"`
	Scrape        Percentiles `json:"scrape_us"`
	// InstancesBusy is instance-seconds spent running batches per second
	// of overload (2 for two instances never idle), from
	// sluice_instance_busy_seconds_total.
	InstancesBusy float64 `json:"instances_busy"`
	// InferenceCores is the CPU the instances' threads used per second of
	// overload (sluice_instance_cpu_seconds_total): inference's share of
	// ServerCores, the rest being the front door's.
	InferenceCores float64 `json:"inference_cores"`
	// ServerCores is the server's CPU per second of overload, with
	// ServerPID; HarnessCores the load generator's.
	ServerCores  float64  `json:"server_cores,omitempty"`
	HarnessCores float64  `json:"harness_cores"`
	Before       Sample   `json:"before"`
	Peak         Sample   `json:"peak"` // the highest of each, apart
	After        Sample   `json:"after"`
	Samples      []Sample `json:"samples"`
}

// Overload measures cfg.
func Overload(ctx context.Context, cfg OverloadConfig, progress func(Progress)) (*OverloadResult, error) {
	if cfg.Multiple <= 0 || cfg.Duration <= 0 || cfg.Connections < 1 || cfg.ProbeEvery <= 0 || cfg.SampleEvery <= 0 {
		return nil, fmt.Errorf("overload: multiple %v, duration %v, connections %d, probe %v, sample %v: expected all above 0",
			cfg.Multiple, cfg.Duration, cfg.Connections, cfg.ProbeEvery, cfg.SampleEvery)
	}
	wc := WatchConfig{URL: cfg.URL, Model: cfg.Call.Model, ProbeEvery: cfg.ProbeEvery, SampleEvery: cfg.SampleEvery, ServerPID: cfg.ServerPID}
	if cfg.Watcher == nil {
		cfg.Watcher = Watch
	}
	scrapes := client.New(cfg.URL, 1)
	res := &OverloadResult{Capacity: cfg.Capacity}
	var err error
	if res.Before, _, err = sample(ctx, scrapes, wc, 0); err != nil {
		return nil, fmt.Errorf("overload: the server's state before: %w", err)
	}
	if res.Capacity == 0 {
		c := cfg.Call
		c.Mode, c.Concurrency, c.Label = Closed, max(cfg.CapacityCallers, 1), "capacity"
		c.Warmup, c.Window, c.MinWindows, c.MaxWindows = 2*time.Second, time.Second, 3, 8
		measured, err := Run(ctx, c, nil)
		if err != nil {
			return nil, err
		}
		res.Capacity = measured.Throughput
		closeIdle(c.Client)
	}
	if res.Capacity <= 0 {
		return nil, fmt.Errorf("overload: the server answered no call while its capacity was measured")
	}
	res.Rate = cfg.Multiple * res.Capacity

	load := cfg.Call
	load.Mode, load.Rate, load.Concurrency, load.Label = Open, res.Rate, cfg.Connections, fmt.Sprintf("%.0f× capacity", cfg.Multiple)
	load.Warmup, load.Window = cfg.Warmup, time.Second
	load.MaxWindows = max(int(cfg.Duration/time.Second), 1)
	load.MinWindows = load.MaxWindows // the whole duration, not until stable

	cpu0 := ProcessCPU(cfg.ServerPID)
	start := time.Now()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan error, 1)
	var wr *WatchResult
	go func() {
		var err error
		wr, err = cfg.Watcher(watchCtx, wc)
		watched <- err
	}()
	res.Load, err = Run(ctx, load, progress)
	took := time.Since(start).Seconds()
	stopWatch()
	werr := <-watched
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, fmt.Errorf("overload: the watcher: %w", werr)
	}
	if n := len(wr.Samples); n > 1 {
		first, last := wr.Samples[0], wr.Samples[n-1]
		if wall := (last.At - first.At).Seconds(); wall > 0 {
			res.InstancesBusy = (last.Busy - first.Busy) / wall
			res.InferenceCores = (last.CPU - first.CPU) / wall
		}
	}
	if cfg.ServerPID > 0 {
		res.ServerCores = (ProcessCPU(cfg.ServerPID) - cpu0).Seconds() / took
	}
	res.HarnessCores = res.Load.CPU.Cores
	res.GoodputRatio = res.Load.Throughput / res.Capacity
	res.Probe, res.Scrape, res.ProbeFailures, res.Samples = wr.Probe, wr.Scrape, wr.ProbeFailures, wr.Samples
	for _, s := range wr.Samples {
		res.Peak.RSS, res.Peak.Goroutines = max(res.Peak.RSS, s.RSS), max(res.Peak.Goroutines, s.Goroutines)
	}

	// The load is over: its connections close, as a client's do when it
	// stops, and what the server holds must return.
	closeIdle(cfg.Call.Client)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cfg.Settle):
	}
	res.After, _, err = sample(ctx, scrapes, wc, time.Since(start))
	return res, err
}

// Watch probes readiness every ProbeEvery, as a kubelet does, and samples
// the server's memory and goroutines from /metrics every SampleEvery,
// timing those scrapes too, until ctx ends. Its probes and scrapes have
// their own connections, never queued behind a load's.
func Watch(ctx context.Context, w WatchConfig) (*WatchResult, error) {
	if w.ProbeEvery <= 0 || w.SampleEvery <= 0 {
		return nil, fmt.Errorf("watch: probe every %v, sample every %v: expected both above 0", w.ProbeEvery, w.SampleEvery)
	}
	probes, scrapes := client.New(w.URL, 1), client.New(w.URL, 1)
	probeHist, scrapeHist := newHist(), newHist()
	res := &WatchResult{}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(w.ProbeEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			t := time.Now()
			err := probes.Ready(pctx)
			d := time.Since(t)
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				res.ProbeFailures++
			default:
				_ = probeHist.RecordValue(min(max(d.Microseconds(), 1), maxLatency))
			}
		}
	})
	wg.Go(func() {
		tick := time.NewTicker(w.SampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			s, d, err := sample(ctx, scrapes, w, time.Since(start))
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				continue
			}
			res.Samples = append(res.Samples, s)
			_ = scrapeHist.RecordValue(min(max(d.Microseconds(), 1), maxLatency))
		}
	})
	wg.Wait()
	res.Probe, res.Scrape = percentiles(probeHist), percentiles(scrapeHist)
	return res, nil
}

// sample reads the server's goroutines, the model's busy time and (without
// a PID) its memory from /metrics, and its memory from /proc with one; d is
// the scrape's latency.
func sample(ctx context.Context, scrapes *client.Client, w WatchConfig, at time.Duration) (Sample, time.Duration, error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t := time.Now()
	text, err := scrapes.Metrics(sctx)
	d := time.Since(t)
	if err != nil {
		return Sample{}, d, err
	}
	m := client.SumMetrics(text)
	s := Sample{At: at, Goroutines: int64(m["go_goroutines"]), RSS: int64(m["process_resident_memory_bytes"]),
		Busy: m[`sluice_instance_busy_seconds_total{model="`+w.Model+`"}`], CPU: m[`sluice_instance_cpu_seconds_total{model="`+w.Model+`"}`]}
	if w.ServerPID > 0 {
		if rss, err := processRSS(w.ServerPID); err == nil {
			s.RSS = rss
		}
	}
	return s, d, nil
}

// processRSS reads a process's resident memory from /proc.
func processRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS line", pid)
}

// ProcessCPU is a process's user and system CPU so far, 0 without a PID
// (or once it has gone).
func ProcessCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	i := bytes.LastIndex(b, []byte(") "))
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// OverloadTable prints what an overload measurement found.
func OverloadTable(w io.Writer, r *OverloadResult) {
	ms := func(us float64) string { return fmt.Sprintf("%.2f ms", us/1000) }
	mb := func(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }
	l := r.Load
	fmt.Fprintf(w, "capacity            %.0f calls/s (closed loop)\n", r.Capacity)
	fmt.Fprintf(w, "offered             %.0f calls/s for %v over %s, %d calls sent\n", r.Rate, l.Duration, l.Protocol, l.Calls)
	fmt.Fprintf(w, "goodput             %.0f calls/s = %.2f of capacity\n", l.Throughput, r.GoodputRatio)
	fmt.Fprintf(w, "answers             %v, transport errors %d\n", l.Status, l.Failed)
	fmt.Fprintf(w, "accepted latency    p50 %s  p99 %s  max %s\n", ms(l.LatencyOK.P50), ms(l.LatencyOK.P99), ms(l.LatencyOK.Max))
	fmt.Fprintf(w, "refusal latency     p50 %s  p99 %s  max %s (%d refused)\n", ms(l.Refusal.P50), ms(l.Refusal.P99), ms(l.Refusal.Max), l.Refused)
	fmt.Fprintf(w, "sent late by        p50 %s  p99 %s  max %s (the load generator's own delay, inside every latency above)\n", ms(l.SendLag.P50), ms(l.SendLag.P99), ms(l.SendLag.Max))
	fmt.Fprintf(w, "readiness probes    p50 %s  p99 %s  max %s (%d failed)\n", ms(r.Probe.P50), ms(r.Probe.P99), ms(r.Probe.Max), r.ProbeFailures)
	fmt.Fprintf(w, "/metrics scrapes    p50 %s  p99 %s  max %s\n", ms(r.Scrape.P50), ms(r.Scrape.P99), ms(r.Scrape.Max))
	fmt.Fprintf(w, "instances busy      %.2f (instance-seconds per second)\n", r.InstancesBusy)
	if r.ServerCores > 0 {
		fmt.Fprintf(w, "CPU account         server %.2f cores (inference %.2f, the rest %.2f), load generator %.2f\n",
			r.ServerCores, r.InferenceCores, r.ServerCores-r.InferenceCores, r.HarnessCores)
		if l.Throughput > 0 {
			fmt.Fprintf(w, "inference CPU       %.0f µs per accepted call\n", 1e6*r.InferenceCores/l.Throughput)
		}
	} else {
		fmt.Fprintf(w, "harness CPU         %.2f cores\n", r.HarnessCores)
	}
	fmt.Fprintf(w, "resident memory     %s before, %s peak, %s after\n", mb(r.Before.RSS), mb(r.Peak.RSS), mb(r.After.RSS))
	fmt.Fprintf(w, "goroutines          %d before, %d peak, %d after\n", r.Before.Goroutines, r.Peak.Goroutines, r.After.Goroutines)
}
