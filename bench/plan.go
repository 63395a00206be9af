package bench

import (
	"context"
	"fmt"
	"time"
)

// Sweep measures each rate (open loop) or concurrency (closed loop) in turn.
func Sweep(ctx context.Context, cfg Config, points []float64, progress func(Progress)) ([]*Result, error) {
	var out []*Result
	for _, p := range points {
		c := cfg
		if cfg.Mode == Open {
			c.Rate = p
		} else {
			c.Concurrency = int(p)
		}
		c.Label = pointLabel(c)
		res, err := Run(ctx, c, progress)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func pointLabel(c Config) string {
	if c.Mode == Open {
		return fmt.Sprintf("rate %g/s", c.Rate)
	}
	return fmt.Sprintf("concurrency %d", c.Concurrency)
}

// Steps measures a schedule of stages, each for a fixed time with no
// stability check: a step schedule is increasing points, a ramp is many
// small steps between two points.
func Steps(ctx context.Context, cfg Config, points []float64, each time.Duration, progress func(Progress)) ([]*Result, error) {
	c := cfg
	c.Warmup, c.Window = 0, each
	c.MinWindows, c.MaxWindows = 1, 1
	return Sweep(ctx, c, points, progress)
}

// Ramp returns n points from a to b, for Steps.
func Ramp(a, b float64, n int) []float64 {
	if n < 2 {
		return []float64{b}
	}
	out := make([]float64, n)
	for i := range n {
		out[i] = a + (b-a)*float64(i)/float64(n-1)
	}
	return out
}

// SearchSLO finds the highest open-loop rate in [lo, hi] whose p99 stays
// within slo (with no errors and the rate actually reached), by bisection
// to within tol of the rate; it returns every probe, the best first.
func SearchSLO(ctx context.Context, cfg Config, lo, hi float64, slo time.Duration, tol float64, progress func(Progress)) ([]*Result, error) {
	cfg.Mode = Open
	var probes []*Result
	var runErr error
	best := bisect(lo, hi, tol, func(rate float64) (*Result, bool) {
		c := cfg
		c.Rate, c.Label = rate, fmt.Sprintf("probe %g/s", rate)
		res, err := Run(ctx, c, progress)
		if err != nil {
			runErr = err
			return nil, false
		}
		probes = append(probes, res)
		return res, res.Latency.P99 <= float64(slo.Microseconds()) && res.Throughput >= 0.95*rate && res.Failed == 0
	})
	switch {
	case runErr != nil:
		return probes, runErr
	case best == nil:
		return probes, fmt.Errorf("no rate from %g/s meets p99 <= %v", lo, slo)
	}
	return append([]*Result{best}, probes...), nil
}

// bisect narrows [lo, hi] around the highest rate probe accepts and
// returns the best accepted probe's result.
func bisect(lo, hi, tol float64, probe func(rate float64) (*Result, bool)) *Result {
	var best *Result
	for hi-lo > tol*hi {
		mid := (lo + hi) / 2
		res, ok := probe(mid)
		if ok {
			lo, best = mid, res
		} else {
			hi = mid
		}
	}
	return best
}
