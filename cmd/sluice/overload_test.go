package main

import (
	"testing"
	"time"

	"github.com/sluice-serving/sluice/bench"
	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// An overload measurement against a real server: the slow model's capacity
// is measured, the loop offers three times as much for three seconds, and
// every call is answered 200 or refused 503; the
// prober, the sampler and the busy account all report. Figures are make
// bench's; this checks that what it reports is there and consistent.
func TestOverloadMeasuresRefusalsProbesAndMemory(t *testing.T) {
	addr, cancel, _ := serveUntilCancelled(t, slowRepo(t, "instances: 1\nmax_batch_size: 8\nmax_queue_size: 2\n"))
	defer cancel()
	url := "http://" + addr
	c := client.New(url, 64)
	if err := waitFor(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	cfg := bench.DefaultOverload()
	cfg.Call = bench.DefaultConfig()
	cfg.Call.Client, cfg.Call.Model = c, "slow"
	cfg.Call.Inputs = []tensor.Tensor{{Name: "features", DataType: tensor.FP32, Shape: []int64{8, 8}, Data: make([]byte, 256)}}
	cfg.URL, cfg.CapacityCallers, cfg.Duration, cfg.Warmup, cfg.Connections, cfg.Settle = url, 4, 3*time.Second, 0, 64, time.Second
	cfg.SampleEvery = 500 * time.Millisecond
	r, err := bench.Overload(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := r.Load
	t.Logf("offered %.0f/s: %v; goodput %.2f of capacity; refusal p99 %.1f ms; probe p99 %.1f ms; busy %.2f",
		r.Rate, l.Status, r.GoodputRatio, l.Refusal.P99/1000, r.Probe.P99/1000, r.InstancesBusy)
	if r.Capacity <= 0 || r.Rate != 3*r.Capacity {
		t.Errorf("capacity %v calls/s, offered %v: want 3 × a measured capacity", r.Capacity, r.Rate)
	}
	if l.OK == 0 || l.Refused == 0 || l.Status[503] != l.Refused || l.OK+l.Refused != l.Calls || l.Failed != 0 {
		t.Errorf("answers %v (%d calls, %d refused, %d transport errors): want only 200s and 503s, some of each", l.Status, l.Calls, l.Refused, l.Failed)
	}
	if l.Refusal.Max <= 0 || l.LatencyOK.Max <= 0 {
		t.Errorf("latencies of refusals %+v and of accepted calls %+v: want both recorded", l.Refusal, l.LatencyOK)
	}
	if r.Probe.Max <= 0 || r.ProbeFailures != 0 || r.Scrape.Max <= 0 {
		t.Errorf("probes %+v (%d failed), scrapes %+v: want probes and scrapes answered", r.Probe, r.ProbeFailures, r.Scrape)
	}
	if len(r.Samples) < 2 || r.Peak.Goroutines < r.Before.Goroutines || r.Before.RSS <= 0 || r.After.Goroutines <= 0 {
		t.Errorf("samples %d, before %+v, peak %+v, after %+v: want memory and goroutines sampled", len(r.Samples), r.Before, r.Peak, r.After)
	}
	if r.InstancesBusy <= 0 || r.InstancesBusy > 1.05 {
		t.Errorf("instances busy %.2f: want a share of the one instance's time", r.InstancesBusy)
	}
}
