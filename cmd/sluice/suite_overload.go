package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/sluice-serving/sluice/bench"
	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/registry"
)

// overloadRuns is how many overload measurements make bench's medians.
const overloadRuns = 3

// overloadTable is (f): PP-OCR at three times its capacity for the given
// time, three times, each on a fresh `sluice serve` process of its own so
// that its memory, goroutines and CPU are its own, with the prober in a
// process of its own too.
func (s *suite) overloadTable(ctx context.Context, md *bytes.Buffer, d time.Duration) error {
	b, err := os.ReadFile("models/ppocr-cls/config.yaml")
	if err != nil {
		return err
	}
	mc := registry.DefaultModelConfig()
	if err := registry.ParseModelConfig(b, &mc); err != nil {
		return fmt.Errorf("models/ppocr-cls/config.yaml: %w", err)
	}
	queue := float64(mc.MaxQueueSize)
	var runs []*bench.OverloadResult
	for i := range overloadRuns {
		s.step("(f) overload run %d of %d: 3× capacity for %v", i+1, overloadRuns, d)
		r, err := s.overloadOnce(ctx, d)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	fmt.Fprintf(md, "\n### (f) Overload: ppocr-cls at 3× its capacity for %v, %d runs\n\n", d, overloadRuns)
	fmt.Fprintf(md, "`sluice serve` (models/ppocr-cls as shipped: %d instances, max_batch_size %d, max_queue_size %.0f) runs as its own process; "+
		"the open loop offers 3× the closed-loop capacity measured just before (16 callers), over up to 2,048 connections, binary tensors; "+
		"a separate prober process asks for readiness every 50 ms and scrapes /metrics every second. Median (min–max) of %d runs.\n\n", mc.Instances, mc.MaxBatchSize, queue, overloadRuns)
	fmt.Fprintf(md, "| figure | median | range |\n|---|---:|---:|\n")
	row := func(name string, unit string, f func(*bench.OverloadResult) float64) {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		fmt.Fprintf(md, "| %s | %s | %s–%s |\n", name, fmtUnit(v[len(v)/2], unit), fmtUnit(v[0], unit), fmtUnit(v[len(v)-1], unit))
	}
	ms := func(us float64) float64 { return us / 1000 }
	row("closed-loop capacity, calls/s", "", func(r *bench.OverloadResult) float64 { return r.Capacity })
	row("offered, calls/s", "", func(r *bench.OverloadResult) float64 { return r.Rate })
	row("goodput (200s) ÷ capacity", "ratio", func(r *bench.OverloadResult) float64 { return r.GoodputRatio })
	row("accepted calls, p99", "ms", func(r *bench.OverloadResult) float64 { return ms(r.Load.LatencyOK.P99) })
	row("queue-delay bound: max_queue_size ÷ goodput", "ms", func(r *bench.OverloadResult) float64 {
		return 1000 * queue / max(r.Load.Throughput, 1)
	})
	row("accepted calls' queue wait, mean (server statistics)", "ms", func(r *bench.OverloadResult) float64 {
		if r.Load.Server == nil {
			return 0
		}
		return ms(r.Load.Server.QueueUS)
	})
	row("calls sent late by the load generator, p99", "ms", func(r *bench.OverloadResult) float64 { return ms(r.Load.SendLag.P99) })
	row("refusals (503), p99", "ms", func(r *bench.OverloadResult) float64 { return ms(r.Load.Refusal.P99) })
	row("readiness probe, p99", "ms", func(r *bench.OverloadResult) float64 { return ms(r.Probe.P99) })
	row("readiness probe, max", "ms", func(r *bench.OverloadResult) float64 { return ms(r.Probe.Max) })
	row("/metrics scrape, p99", "ms", func(r *bench.OverloadResult) float64 { return ms(r.Scrape.P99) })
	row("instances busy (of 2)", "ratio", func(r *bench.OverloadResult) float64 { return r.InstancesBusy })
	row("server CPU, cores", "ratio", func(r *bench.OverloadResult) float64 { return r.ServerCores })
	row("… of which inference (the instances' threads)", "ratio", func(r *bench.OverloadResult) float64 { return r.InferenceCores })
	row("… of which the front door and the rest", "ratio", func(r *bench.OverloadResult) float64 { return r.ServerCores - r.InferenceCores })
	row("load generator CPU, cores", "ratio", func(r *bench.OverloadResult) float64 { return r.HarnessCores })
	row("left idle or to other processes (the prober), cores", "ratio", func(r *bench.OverloadResult) float64 {
		return float64(goruntime.NumCPU()) - r.ServerCores - r.HarnessCores
	})
	row("inference CPU per accepted call", "us", func(r *bench.OverloadResult) float64 {
		return 1e6 * r.InferenceCores / max(r.Load.Throughput, 1)
	})
	row("resident memory before", "MB", func(r *bench.OverloadResult) float64 { return float64(r.Before.RSS) / 1e6 })
	row("resident memory, peak", "MB", func(r *bench.OverloadResult) float64 { return float64(r.Peak.RSS) / 1e6 })
	row("resident memory 5 s after", "MB", func(r *bench.OverloadResult) float64 { return float64(r.After.RSS) / 1e6 })
	row("goroutines before", "", func(r *bench.OverloadResult) float64 { return float64(r.Before.Goroutines) })
	row("goroutines, peak", "", func(r *bench.OverloadResult) float64 { return float64(r.Peak.Goroutines) })
	row("goroutines 5 s after", "", func(r *bench.OverloadResult) float64 { return float64(r.After.Goroutines) })
	row("transport errors", "", func(r *bench.OverloadResult) float64 { return float64(r.Load.Failed) })
	return nil
}

func fmtUnit(v float64, unit string) string {
	switch unit {
	case "ratio":
		return fmt.Sprintf("%.2f", v)
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "MB":
		return fmt.Sprintf("%.0f MB", v)
	case "us":
		return fmt.Sprintf("%.0f µs", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// overloadOnce serves models/ppocr-cls from a fresh `sluice serve` process
// and measures it overloaded.
func (s *suite) overloadOnce(ctx context.Context, d time.Duration) (*bench.OverloadResult, error) {
	p, stop, err := serveRepo(ctx, "ppocr-cls", "models/ppocr-cls", "")
	if err != nil {
		return nil, err
	}
	defer stop()
	url := "http://" + p.addr
	c := client.New(url, 2048)
	if err := waitFor(ctx, c); err != nil {
		return nil, err
	}
	cfg := bench.DefaultOverload()
	cfg.Call = s.benchConfig(c, "ppocr-cls", 16)
	if cfg.Call.Inputs, err = bench.RandomInputs(ctx, c, "ppocr-cls", "", 1, map[string][]int64{"x": {1, 3, 48, 192}}); err != nil {
		return nil, err
	}
	cfg.URL, cfg.Duration, cfg.ServerPID, cfg.Watcher = url, d, p.pid, processWatcher
	return bench.Overload(ctx, cfg, nil)
}
