package bench

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
)

// spectrumPlot overlays every run's percentile spectrum, one line each.
func spectrumPlot(results []*Result, slo time.Duration) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = "percentile", "latency (ms)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, percentileTicks
	logLatency(&p.Y)
	p.Legend.Top, p.Legend.Left = true, true
	for i, r := range results {
		pts := spectrum(r)
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color, l.Dashes = plotutil.Color(i), plotutil.Dashes(i/len(plotutil.DefaultColors))
		p.Add(l)
		p.Legend.Add(runName(r), l)
	}
	fitLog(&p.X)
	return withSLO(p, slo)
}

// spectrum is r's latency (ms) against 1/(1−q): from the histogram, 20
// points a decade up to the last call, or from the stored percentiles
// when the histogram did not survive (results read back from JSON).
func spectrum(r *Result) plotter.XYs {
	if r.hist == nil || r.hist.TotalCount() == 0 {
		return storedSpectrum(r)
	}
	n := float64(r.hist.TotalCount())
	top := math.Min(n, spectrumTop)
	var pts plotter.XYs
	for k := 0; math.Pow(10, float64(k)/20) < top; k++ {
		x := math.Pow(10, float64(k)/20)
		pts = appendPositive(pts, x, float64(r.hist.ValueAtQuantile(100*(1-1/x)))/1000)
	}
	last := float64(r.hist.ValueAtQuantile(100 * (1 - 1/top)))
	if top == n {
		last = float64(r.hist.Max()) // the slowest call, where the quantile would give the one before it
	}
	return appendPositive(pts, top, last/1000)
}

func storedSpectrum(r *Result) plotter.XYs {
	l := r.Latency
	var pts plotter.XYs
	for _, p := range []struct{ q, us float64 }{{0.5, l.P50}, {0.9, l.P90}, {0.95, l.P95}, {0.99, l.P99}, {0.999, l.P999}} {
		pts = appendPositive(pts, 1/(1-p.q), p.us/1000)
	}
	if r.Calls > 1000 { // past the 99.9th percentile, the maximum is the last call
		pts = appendPositive(pts, float64(r.Calls), l.Max/1000)
	}
	return pts
}

// percentileTicks label the spectrum's 1/(1−q) axis in percentiles; the
// minimum, at 1, goes unlabelled, too close to 50% to read.
var percentileTicks = func() plot.ConstantTicks {
	var ticks plot.ConstantTicks
	for e, label := range []string{"", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"} {
		decade := math.Pow10(e)
		ticks = append(ticks, plot.Tick{Value: decade, Label: label})
		for m := 2.0; m < 10 && e < 6; m++ {
			ticks = append(ticks, plot.Tick{Value: m * decade})
		}
	}
	ticks[1].Label = "50%" // 1/(1−0.5) = 2
	return ticks
}()

// logLatency puts an axis of latencies on a log scale: latencies span
// decades, and the tail is what a report is read for.
func logLatency(a *plot.Axis) {
	a.Scale, a.Tick.Marker = plot.LogScale{}, latencyTicks{}
}

// fitLog makes a log axis drawable and legible. Gonum widens an empty or
// single-valued range by ±1, which can cross zero and panic a log scale;
// an axis with no data gets a decade instead, and a narrow one is widened
// to a factor of 4, which always holds a 1, 2 or 5 for latencyTicks to
// label.
func fitLog(a *plot.Axis) {
	if math.IsInf(a.Min, 0) || math.IsInf(a.Max, 0) || a.Min <= 0 {
		a.Min, a.Max = 1, 10
		return
	}
	if a.Max/a.Min < 4 {
		c := math.Sqrt(a.Min * a.Max)
		a.Min, a.Max = c/2, c*2
	}
}

// latencyTicks are plot.LogTicks' marks, 1 to 9 in each decade, with
// labels readable on any span: powers of ten and, when the axis spans
// under three decades (under one, LogTicks may label nothing in range), 2
// and 5 between them. They start at the decade below lo, where LogTicks
// truncates toward zero and leaves the first decade under 1 ms unmarked.
type latencyTicks struct{}

func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for m := 1.0; m <= 9; m++ {
			t := plot.Tick{Value: m * math.Pow(10, e)}
			if m == 1 || (hi/lo < 1000 && (m == 2 || m == 5)) {
				t.Label = tickLabel(t.Value)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// tickLabel is v to three significant digits, never in exponent form.
func tickLabel(v float64) string {
	return strconv.FormatFloat(roundSig(v, 3), 'f', -1, 64)
}

// appendPositive appends (x, y) where a log axis can place it.
func appendPositive(pts plotter.XYs, x, y float64) plotter.XYs {
	if x <= 0 || y <= 0 || math.IsNaN(x) || math.IsNaN(y) {
		return pts
	}
	return append(pts, plotter.XY{X: x, Y: y})
}

// sortedBy is a copy of results in order of key, for lines drawn left to
// right (an SLO search probes rates out of order).
func sortedBy(results []*Result, key func(*Result) float64) []*Result {
	out := slices.Clone(results)
	slices.SortStableFunc(out, func(a, b *Result) int { return cmp.Compare(key(a), key(b)) })
	return out
}

// where is the results keep accepts, in order.
func where(results []*Result, keep func(*Result) bool) []*Result {
	var out []*Result
	for _, r := range results {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// runName is r's label in a legend, marked when the run did not settle.
func runName(r *Result) string {
	if r.Stable {
		return r.Label
	}
	return r.Label + " (not stable)"
}
