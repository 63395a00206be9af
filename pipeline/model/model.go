// Package model is a trained classifier as plain numbers: what the train
// stage produces, the export stage writes as an ONNX graph, and the
// evaluate stage and the tests run in Go. It has no dependencies, so every
// stage reads it the same way.
//
// A model maps a row of raw features x to the probability of the positive
// class: z = (x - Mean) / Std, then each layer's z·W + B (with ReLU between
// layers), then the sigmoid of the last layer's single output. The label is
// probability > Threshold.
package model

import (
	"fmt"
	"math"
)

// Kinds of model the train stage makes.
const (
	LogReg = "logreg" // one layer, no hidden units
	MLP    = "mlp"    // one or more hidden ReLU layers
)

// Layer is one affine map, W row-major [In][Out].
type Layer struct {
	In  int       `json:"in"`
	Out int       `json:"out"`
	W   []float64 `json:"w"`
	B   []float64 `json:"b"`
}

// Model is a binary classifier over raw features.
type Model struct {
	Kind      string    `json:"kind"`
	Features  []string  `json:"features"` // input names, in input order
	Mean      []float64 `json:"mean"`     // normalisation, folded into the ONNX export
	Std       []float64 `json:"std"`
	Layers    []Layer   `json:"layers"` // ReLU after every layer but the last, whose one output is the logit
	Threshold float64   `json:"threshold"`
}

// Validate names what is inconsistent.
func (m *Model) Validate() error {
	n := len(m.Features)
	switch {
	case m.Kind != LogReg && m.Kind != MLP:
		return fmt.Errorf("model kind %q, expected %s or %s", m.Kind, LogReg, MLP)
	case n == 0 || len(m.Mean) != n || len(m.Std) != n:
		return fmt.Errorf("model has %d features, %d means and %d standard deviations; expected equal and non-zero", n, len(m.Mean), len(m.Std))
	case len(m.Layers) == 0:
		return fmt.Errorf("model has no layers")
	case m.Kind == LogReg && len(m.Layers) != 1:
		return fmt.Errorf("logistic regression with %d layers, expected 1", len(m.Layers))
	}
	in := n
	for i, l := range m.Layers {
		if l.In != in || l.Out < 1 || len(l.W) != l.In*l.Out || len(l.B) != l.Out {
			return fmt.Errorf("layer %d: %d→%d with %d weights and %d biases, expected %d inputs", i, l.In, l.Out, len(l.W), len(l.B), in)
		}
		in = l.Out
	}
	if in != 1 {
		return fmt.Errorf("the last layer has %d outputs, expected 1 (the logit)", in)
	}
	for i, s := range m.Std {
		if !(s > 0) {
			return fmt.Errorf("feature %q: standard deviation %v, expected positive", m.Features[i], s)
		}
	}
	return nil
}

// Logit is the last layer's output for one row of raw features.
func (m *Model) Logit(x []float64) float64 {
	z := make([]float64, len(x))
	for i := range x {
		z[i] = (x[i] - m.Mean[i]) / m.Std[i]
	}
	for k, l := range m.Layers {
		out := make([]float64, l.Out)
		for j := range out {
			s := l.B[j]
			for i := range l.In {
				s += z[i] * l.W[i*l.Out+j]
			}
			if k < len(m.Layers)-1 {
				s = max(s, 0)
			}
			out[j] = s
		}
		z = out
	}
	return z[0]
}

// Probability is the positive class's probability for one row.
func (m *Model) Probability(x []float64) float64 {
	return 1 / (1 + math.Exp(-m.Logit(x)))
}

// Label is 1 when the probability passes the threshold.
func (m *Model) Label(x []float64) int64 {
	if m.Probability(x) > m.Threshold {
		return 1
	}
	return 0
}
