package bench

import (
	"bytes"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

type svgPlot struct {
	title string
	svg   string
}

func svgPlots(results []*Result) ([]svgPlot, error) {
	var out []svgPlot
	add := func(title string, p *plot.Plot, err error) error {
		if err != nil {
			return err
		}
		svg, err := render(p)
		if err != nil {
			return err
		}
		out = append(out, svgPlot{title, svg})
		return nil
	}
	if len(results) > 1 {
		p, err := latencyVsThroughput(results)
		if err := add("Latency against throughput", p, err); err != nil {
			return nil, err
		}
	}
	p, err := cdfPlot(results)
	if err := add("Latency CDF", p, err); err != nil {
		return nil, err
	}
	p, err = overTime(results)
	if err := add("Throughput and errors over time", p, err); err != nil {
		return nil, err
	}
	return out, nil
}

func render(p *plot.Plot) (string, error) {
	c := vgsvg.New(8*vg.Inch, 4*vg.Inch)
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

func latencyVsThroughput(results []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = "throughput (calls/s)", "latency (ms)"
	for i, q := range []struct {
		name string
		get  func(*Result) float64
	}{{"p50", func(r *Result) float64 { return r.Latency.P50 }}, {"p99", func(r *Result) float64 { return r.Latency.P99 }}, {"p99.9", func(r *Result) float64 { return r.Latency.P999 }}} {
		pts := make(plotter.XYs, len(results))
		for k, r := range results {
			pts[k] = plotter.XY{X: r.Throughput, Y: q.get(r) / 1000}
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		p.Add(l, s)
		p.Legend.Add(q.name, l, s)
	}
	return p, nil
}

func cdfPlot(results []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = "latency (ms)", "fraction of calls"
	for i, r := range results {
		var pts plotter.XYs
		for _, b := range r.hist.CumulativeDistribution() {
			pts = append(pts, plotter.XY{X: float64(b.ValueAt) / 1000, Y: b.Quantile / 100})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		p.Add(l)
		p.Legend.Add(r.Label, l)
	}
	return p, nil
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
	lo, err := plotter.NewLine(ok)
	if err != nil {
		return nil, err
	}
	le, err := plotter.NewLine(errs)
	if err != nil {
		return nil, err
	}
	lo.Color = plotutil.Color(0)
	le.Color = color.RGBA{R: 200, A: 255}
	p.Add(lo, le)
	p.Legend.Add("successful calls/s", lo)
	p.Legend.Add("errors/s", le)
	return p, nil
}

// durationOf is one window's length in seconds.
func durationOf(r *Result) float64 {
	if len(r.Windows) == 0 {
		return 1
	}
	return r.Duration.Seconds() / float64(len(r.Windows))
}
