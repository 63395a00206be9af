package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

type svgPlot struct {
	title, caption string
	svg            string
}

// plotSpec is one plot of the page; build is deferred so that a spec
// costs nothing until it is drawn.
type plotSpec struct {
	title, caption string
	height         vg.Length
	build          func() (*plot.Plot, error)
}

// spectrumTop is how far into the tail the percentile spectrum reaches:
// 1/(1−q) of 10⁶ is the 99.9999th percentile.
const spectrumTop = 1e6

var (
	sloColor    = color.RGBA{R: 200, G: 0, B: 32, A: 255}
	guideColor  = color.Gray{Y: 150}
	seriesColor = color.RGBA{R: 0, G: 114, B: 178, A: 255} // one series alone; red is for errors and the SLO
)

func svgPlots(results []*Result, slo time.Duration) ([]svgPlot, error) {
	var out []svgPlot
	for _, s := range plotSpecs(results, slo) {
		p, err := s.build()
		if err != nil {
			return nil, fmt.Errorf("bench: plotting %q: %w", s.title, err)
		}
		svg, err := render(p, s.height)
		if err != nil {
			return nil, fmt.Errorf("bench: rendering %q: %w", s.title, err)
		}
		out = append(out, svgPlot{s.title, s.caption, svg})
	}
	return out, nil
}

// plotSpecs chooses the plots the results support: a latency curve needs
// more than one run, offered against achieved needs an open loop, and the
// split needs the server's statistics.
func plotSpecs(results []*Result, slo time.Duration) []plotSpec {
	var specs []plotSpec
	if len(results) > 1 {
		specs = append(specs, plotSpec{"Latency against throughput", "p50, p99 and p99.9 of each run against the calls/s it achieved.", 4 * vg.Inch,
			func() (*plot.Plot, error) { return latencyVsThroughput(results, slo) }})
	}
	specs = append(specs, plotSpec{"Percentile spectrum", "Latency against 1/(1−percentile), as HdrHistogram draws it: the tail stretched out to the slowest call.", 4 * vg.Inch,
		func() (*plot.Plot, error) { return spectrumPlot(results, slo) }})
	if open := where(results, func(r *Result) bool { return r.Mode == Open && r.Rate > 0 }); len(open) > 0 {
		specs = append(specs, plotSpec{"Offered against achieved rate", "Open loops: a point under the diagonal is a rate the server (or the load generator) did not keep up with.", 4 * vg.Inch,
			func() (*plot.Plot, error) { return offeredVsAchieved(open) }})
	}
	if split := where(results, func(r *Result) bool { return r.Server != nil }); len(split) > 0 {
		specs = append(specs, plotSpec{"Server time per call", "Where the server says a call's time went: waiting in its queue, then compute (input, inference, output).", 1.2*vg.Inch + vg.Length(len(split))*vg.Points(28),
			func() (*plot.Plot, error) { return serverSplit(split) }})
	}
	return append(specs, plotSpec{"Throughput and errors over time", "Each measurement window of each run, in order.", 4 * vg.Inch,
		func() (*plot.Plot, error) { return overTime(results) }})
}

func render(p *plot.Plot, height vg.Length) (string, error) {
	c := vgsvg.New(8*vg.Inch, height)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	svg := b.Bytes()
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:] // drop the XML prologue: the SVG sits inside HTML
	}
	return string(svg), nil
}

// latencyLines are the percentiles drawn against throughput.
var latencyLines = []struct {
	name string
	get  func(*Result) float64
}{{"p50", func(r *Result) float64 { return r.Latency.P50 }}, {"p99", func(r *Result) float64 { return r.Latency.P99 }}, {"p99.9", func(r *Result) float64 { return r.Latency.P999 }}}

func latencyVsThroughput(results []*Result, slo time.Duration) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = "achieved (calls/s)", "latency (ms)"
	logLatency(&p.Y)
	p.Legend.Top, p.Legend.Left = true, true
	sorted := sortedBy(results, func(r *Result) float64 { return r.Throughput })
	for i, q := range latencyLines {
		var pts plotter.XYs
		for _, r := range sorted {
			pts = appendPositive(pts, r.Throughput, q.get(r)/1000)
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		p.Add(l, s)
		p.Legend.Add(q.name, l, s)
	}
	return withSLO(p, slo)
}

// offeredVsAchieved draws each open loop's achieved rate against the rate
// asked for, runs that did not settle as crosses, and the diagonal where
// the two agree.
func offeredVsAchieved(open []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = "offered (calls/s)", "achieved (calls/s)"
	p.Legend.Top, p.Legend.Left = true, true
	var all, stable, unstable plotter.XYs
	top := 0.0
	for _, r := range sortedBy(open, func(r *Result) float64 { return r.Rate }) {
		xy := plotter.XY{X: r.Rate, Y: r.Throughput}
		all, top = append(all, xy), max(top, r.Rate, r.Throughput)
		if r.Stable {
			stable = append(stable, xy)
		} else {
			unstable = append(unstable, xy)
		}
	}
	if err := addLine(p, plotter.XYs{{}, {X: top, Y: top}}, "achieved = offered", guideColor, []vg.Length{vg.Points(4), vg.Points(4)}); err != nil {
		return nil, err
	}
	if err := addLine(p, all, "", seriesColor, nil); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		pts   plotter.XYs
		name  string
		glyph draw.GlyphDrawer
	}{{stable, "stable", draw.CircleGlyph{}}, {unstable, "not stable", draw.CrossGlyph{}}} {
		if len(s.pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(s.pts)
		if err != nil {
			return nil, err
		}
		sc.Color, sc.Shape, sc.Radius = seriesColor, s.glyph, vg.Points(4)
		p.Add(sc)
		p.Legend.Add(s.name, sc)
	}
	p.X.Min, p.Y.Min = 0, 0
	return p, nil
}

// splitParts are the server's per-call times, stacked in the order a call
// meets them.
var splitParts = []struct {
	name  string
	color color.Color
	get   func(*ServerSplit) float64
}{
	{"queue", color.RGBA{R: 230, G: 159, B: 0, A: 255}, func(s *ServerSplit) float64 { return s.QueueUS }},
	{"input", color.RGBA{R: 140, G: 190, B: 230, A: 255}, func(s *ServerSplit) float64 { return s.InputUS }},
	{"infer", color.RGBA{R: 0, G: 114, B: 178, A: 255}, func(s *ServerSplit) float64 { return s.InferUS }},
	{"output", color.RGBA{R: 20, G: 50, B: 110, A: 255}, func(s *ServerSplit) float64 { return s.OutputUS }},
}

// serverSplit stacks each run's queue and compute times in one horizontal
// bar, the first run at the top as in the table.
func serverSplit(split []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "server time per call (ms)"
	p.Legend.Top = true
	n := len(split)
	names := make([]string, n)
	widest := 0.0
	for i, r := range split {
		names[n-1-i] = splitName(r)
		widest = max(widest, (r.Server.QueueUS+r.Server.InputUS+r.Server.InferUS+r.Server.OutputUS)/1000)
	}
	var below *plotter.BarChart
	for _, part := range splitParts {
		vals := make(plotter.Values, n)
		for i, r := range split {
			vals[n-1-i] = part.get(r.Server) / 1000
		}
		b, err := plotter.NewBarChart(vals, vg.Points(14))
		if err != nil {
			return nil, err
		}
		b.Horizontal, b.Color, b.LineStyle.Width = true, part.color, 0
		if below != nil {
			b.StackOn(below)
		}
		p.Add(b)
		p.Legend.Add(part.name, b)
		below = b
	}
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.7, float64(n)-0.3     // the bars' half-widths inside the plot
	p.X.Min, p.X.Max = 0, max(widest*1.3, 1e-3) // room on the right for the legend
	return p, nil
}

func splitName(r *Result) string {
	if r.Server.MeanBatch > 0 {
		return fmt.Sprintf("%s (batch %.1f)", r.Label, r.Server.MeanBatch)
	}
	return r.Label
}

func overTime(results []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = "window", "calls/s"
	var ok, errs plotter.XYs
	n := 0
	for _, r := range results {
		for _, w := range r.Windows {
			ok = append(ok, plotter.XY{X: float64(n), Y: w.Throughput})
			errs = append(errs, plotter.XY{X: float64(n), Y: float64(w.Errors) / durationOf(r)})
			n++
		}
	}
	if n == 0 {
		return p, nil
	}
	if err := addLine(p, ok, "successful calls/s", seriesColor, nil); err != nil {
		return nil, err
	}
	return p, addLine(p, errs, "errors/s", color.RGBA{R: 200, A: 255}, nil)
}

// durationOf is one window's length in seconds.
func durationOf(r *Result) float64 {
	if len(r.Windows) == 0 {
		return 1
	}
	return r.Duration.Seconds() / float64(len(r.Windows))
}

// addLine adds a line, to the legend too when it is named.
func addLine(p *plot.Plot, pts plotter.XYs, name string, c color.Color, dashes []vg.Length) error {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Dashes = c, dashes
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// withSLO draws the SLO, when there is one, across what is plotted
// already, and then settles the log latency axis, which the SLO may
// stretch.
func withSLO(p *plot.Plot, slo time.Duration) (*plot.Plot, error) {
	if slo > 0 && !math.IsInf(p.X.Min, 0) && !math.IsInf(p.X.Max, 0) {
		y := float64(slo) / float64(time.Millisecond)
		if err := addLine(p, plotter.XYs{{X: p.X.Min, Y: y}, {X: p.X.Max, Y: y}}, "SLO "+slo.String(), sloColor, []vg.Length{vg.Points(6), vg.Points(3)}); err != nil {
			return nil, err
		}
	}
	fitLog(&p.Y)
	return p, nil
}
