package autoscale

import (
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WriteSVG plots a simulation: the load (calls/s, scaled to the replica
// axis by the replica's rate), the recommended and ready replicas, and
// panic mode as a band.
func WriteSVG(w io.Writer, steps []Step, rep Replica) error {
	p := plot.New()
	p.Title.Text = "sluice autoscale simulate"
	p.X.Label.Text, p.Y.Label.Text = "seconds", "replicas (load in replicas' worth of calls/s)"
	var load, desired, ready, panicBand plotter.XYs
	top := 1.0
	for _, s := range steps {
		x := s.At.Seconds()
		l := s.Rate / rep.Rate
		load = append(load, plotter.XY{X: x, Y: l})
		desired = append(desired, plotter.XY{X: x, Y: float64(s.Decision.Desired)})
		ready = append(ready, plotter.XY{X: x, Y: float64(s.Ready)})
		top = max(top, l, float64(s.Decision.Desired))
	}
	for _, s := range steps {
		y := 0.0
		if s.Decision.Panic {
			y = top * 1.05
		}
		panicBand = append(panicBand, plotter.XY{X: s.At.Seconds(), Y: y})
	}
	lines := []struct {
		name string
		pts  plotter.XYs
		c    color.RGBA
	}{
		{"load / replica rate", load, color.RGBA{R: 120, G: 120, B: 120, A: 255}},
		{"desired replicas", desired, color.RGBA{B: 200, A: 255}},
		{"ready replicas", ready, color.RGBA{G: 150, A: 255}},
		{"panic", panicBand, color.RGBA{R: 220, A: 255}},
	}
	for _, l := range lines {
		ln, err := plotter.NewLine(l.pts)
		if err != nil {
			return err
		}
		ln.Color = l.c
		p.Add(ln)
		p.Legend.Add(l.name, ln)
	}
	p.Legend.Top = true
	c := vgsvg.New(10*vg.Inch, 4*vg.Inch)
	p.Draw(draw.New(c))
	_, err := c.WriteTo(w)
	return err
}
