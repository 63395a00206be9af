package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-serving/sluice/bench"
	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/runtime"
)

// wideMLP is the fixture on which batching pays on a CPU; wideOff serves
// it with batching off (its own config.yaml has it on).
const (
	wideMLP = "testdata/models/widemlp"
	wideOff = "instances: 2\nintra_op_threads: 1\nmax_batch_size: 0\n"
)

// suiteTables is every row of (b)–(i) and what the ratios need.
type suiteTables struct {
	ceiling                                       rawResult
	rawCPU                                        float64 // in-process ORT CPU per ppocr-cls item, µs (2 sessions × 1 thread, batch 1)
	on, off, tiny, one, onGRPC, tinyGRPC, oneGRPC series
	wideOn, wideOff, wideOneOn, wideOneOff        series
	fixed                                         series // the bare fasthttp handler, driven by the harness
	wrkFixed, wrkTiny                             []wrkResult
	open                                          series
	rawOne                                        []time.Duration // in-process ORT, one caller, batch 1, sorted
}

// frontDoorRows measures the bare fasthttp handler as its own process (by
// the harness, and by wrk when installed) and Sluice on student-success
// by wrk: the front door's ceiling and Sluice's cost over it.
func (s *suite) frontDoorRows(ctx context.Context, t *suiteTables, student, tinyCfg string) error {
	fixed, p, err := s.fixedRow(ctx, "(d) bare fasthttp handler", 32)
	if err != nil {
		return err
	}
	t.fixed = fixed
	t.wrkFixed, err = s.wrkRuns(p.addr, p.pid, 32)
	p.stop()
	if err != nil || t.wrkFixed == nil {
		return err
	}
	sp, stop, err := serveRepo(ctx, "student-success", student, tinyCfg)
	if err != nil {
		return err
	}
	defer stop()
	if err := waitFor(ctx, client.New("http://"+sp.addr, 1)); err != nil {
		return err
	}
	t.wrkTiny, err = s.wrkRuns(sp.addr, sp.pid, 32)
	return err
}

// openRow serves PP-OCR as (b) does, measures its closed-loop capacity
// (16 callers) on that same process, and offers share of it, suiteRuns
// times: the tail at a load the server can carry. The capacity is taken
// just before, since this machine's speed drifts between rows.
func (s *suite) openRow(ctx context.Context, config string, share float64) (series, error) {
	return s.served(ctx, "(h) ppocr-cls, open loop", "ppocr-cls", "models/ppocr-cls", config, "http", 16, 1, func(cfg bench.Config, pid int) (series, error) {
		capacity, err := bench.Run(ctx, cfg, nil)
		if err != nil {
			return series{}, err
		}
		rate := share * capacity.Throughput
		cfg.Mode, cfg.Rate, cfg.Concurrency = bench.Open, rate, 256
		cfg.MinWindows, cfg.MaxWindows = 5, 5
		return s.measure(ctx, fmt.Sprintf("(h) ppocr-cls, open loop at %.0f%% of %.0f calls/s", 100*share, capacity.Throughput), pid, cfg)
	})
}

// rawCPUPerItem is ONNX Runtime's own CPU per ppocr-cls item, in this
// process, laid out as Sluice serves it (2 sessions × 1 thread, batch 1,
// both busy): the floor a server's CPU per call is compared with.
func rawCPUPerItem(path string, d time.Duration) (float64, error) {
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances, cfg.IntraOpThreads = 2, 1
	m, err := runtime.Load(path, cfg)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	in := zeroInput([]int64{1, 3, 48, 192})
	if err := runOn(m, 0, in); err != nil {
		return 0, err
	}
	var done atomic.Int64
	c0 := selfCPU()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range cfg.Instances {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if runOn(m, i, in) == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return (selfCPU() - c0).Seconds() / float64(max(done.Load(), 1)) * 1e6, nil
}

// selfCPU is this process's user and system CPU so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// write writes the tables of (b)–(i) and the targets.
func (t *suiteTables) write(md *bytes.Buffer) {
	fmt.Fprintf(md, "\n### (b)–(i) Sluice as its own process, median [range] of %d runs\n\n", suiteRuns)
	fmt.Fprintf(md, "| run | protocol | calls/s | p50 µs | p99 µs | server CPU per call µs | server queue µs | server infer µs | batch |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	all := []series{t.on, t.off, t.tiny, t.fixed, t.one, t.onGRPC, t.tinyGRPC, t.oneGRPC, t.open, t.wideOn, t.wideOff, t.wideOneOn, t.wideOneOff}
	for _, r := range all {
		if len(r.results) == 0 {
			continue
		}
		q, inf, b := "-", "-", "-"
		if r.results[0].Server != nil {
			q = fmt.Sprintf("%.0f", r.stat(func(x *bench.Result) float64 { return split(x).QueueUS }).med)
			inf = fmt.Sprintf("%.0f", r.stat(func(x *bench.Result) float64 { return split(x).InferUS }).med)
			b = fmt.Sprintf("%.1f", r.stat(func(x *bench.Result) float64 { return split(x).MeanBatch }).med)
		}
		fmt.Fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.label, r.results[0].Protocol,
			r.stat(okPerSec).fmt("%.0f"), r.stat(p50).fmt("%.0f"), r.stat(p99).fmt("%.0f"), r.stat(serverCPU).fmt("%.0f"), q, inf, b)
	}
	if t.wrkFixed != nil {
		fmt.Fprintf(md, "\nwrk (one thread, 32 connections, JSON calls of student-success), the server's CPU per call from /proc:\n\n| server | calls/s | server CPU per call µs |\n|---|---:|---:|\n")
		for _, w := range []struct {
			name string
			rs   []wrkResult
		}{{"bare fasthttp handler", t.wrkFixed}, {"Sluice on student-success", t.wrkTiny}} {
			var rate, cpu []float64
			for _, r := range w.rs {
				rate, cpu = append(rate, r.rate), append(cpu, r.cpuPerCallUS)
			}
			fmt.Fprintf(md, "| %s | %s | %s |\n", w.name, statOf(rate).fmt("%.0f"), statOf(cpu).fmt("%.1f"))
		}
	}
	fmt.Fprintf(md, "\n### Targets (issue 16), from the runs above\n\n| figure | measured | target | holds |\n|---|---:|---:|:---:|\n")
	target := func(name string, st stat, format, cmp string, goal float64) {
		holds := st.med >= goal
		if cmp == "≤" {
			holds = st.med <= goal
		}
		mark := "no"
		if holds {
			mark = "yes"
		}
		fmt.Fprintf(md, "| %s | %s | %s %.2f | %s |\n", name, st.fmt(format), cmp, goal, mark)
	}
	items := func(*bench.Result) float64 { return t.ceiling.items }
	target(fmt.Sprintf("ppocr-cls, 16 callers: items/s ÷ in-process ORT ceiling (%.0f, %s, batch %d)", t.ceiling.items, t.ceiling.layout, t.ceiling.batch),
		ratio(t.on, t.on, okPerSec, items), "%.2f", "≥", 0.85)
	raw := func(*bench.Result) float64 { return t.rawCPU }
	target(fmt.Sprintf("ppocr-cls: server CPU per item ÷ in-process ORT CPU per item (%.0f µs)", t.rawCPU), ratio(t.on, t.on, serverCPU, raw), "%.2f", "≤", 1.15)
	target("student-success, 32 callers: server CPU per call ÷ the bare fasthttp handler's (harness)", ratio(t.tiny, t.fixed, serverCPU, serverCPU), "%.2f", "≤", 1.6)
	if t.wrkFixed != nil {
		var vs []float64
		for i := range min(len(t.wrkTiny), len(t.wrkFixed)) {
			vs = append(vs, t.wrkTiny[i].cpuPerCallUS/t.wrkFixed[i].cpuPerCallUS)
		}
		target("student-success, 32 connections: server CPU per call ÷ the bare handler's (wrk)", statOf(vs), "%.2f", "≤", 1.6)
	}
	target("ppocr-cls: batching on ÷ off, closed loop", ratio(t.on, t.off, okPerSec, okPerSec), "%.2f", "≥", 2.0)
	if len(t.wideOn.results) > 0 {
		target("widemlp, 32 callers: batching on ÷ off", ratio(t.wideOn, t.wideOff, okPerSec, okPerSec), "%.2f", "≥", 2.0)
		target("widemlp, one client: p50 on ÷ off", ratio(t.wideOneOn, t.wideOneOff, p50, p50), "%.2f", "≤", 1.05)
	}
	target("ppocr-cls, open loop at 70% of capacity: p99 ÷ one-client p50", ratio(t.open, t.one, p99, p50), "%.1f", "≤", 10)
	if n := len(t.rawOne); n > 0 {
		fmt.Fprintf(md, "\nOne client, ppocr-cls: Sluice p50 %s µs, p99 %s µs; in-process ORT p50 %d µs, p99 %d µs.\n",
			t.one.stat(p50).fmt("%.0f"), t.one.stat(p99).fmt("%.0f"), t.rawOne[n/2].Microseconds(), t.rawOne[n*99/100].Microseconds())
	}
	fmt.Fprintf(md, "\ngRPC beside HTTP, the same run: ppocr-cls calls/s %s, server CPU per call %s; student-success calls/s %s, server CPU per call %s; one client p50 %s.\n",
		ratio(t.onGRPC, t.on, okPerSec, okPerSec).fmt("%.2f"), ratio(t.onGRPC, t.on, serverCPU, serverCPU).fmt("%.2f"),
		ratio(t.tinyGRPC, t.tiny, okPerSec, okPerSec).fmt("%.2f"), ratio(t.tinyGRPC, t.tiny, serverCPU, serverCPU).fmt("%.2f"),
		ratio(t.oneGRPC, t.one, p50, p50).fmt("%.2f"))
}

// split is a result's server split, zero when it has none.
func split(r *bench.Result) bench.ServerSplit {
	if r.Server == nil {
		return bench.ServerSplit{}
	}
	return *r.Server
}
