package model

import (
	"math"
	"strings"
	"testing"
)

func logreg() *Model {
	return &Model{Kind: LogReg, Features: []string{"a", "b"}, Mean: []float64{1, 2}, Std: []float64{2, 4}, Threshold: 0.5,
		Layers: []Layer{{In: 2, Out: 1, W: []float64{1, -1}, B: []float64{0.5}}}}
}

func TestProbabilityNormalisesThenAppliesTheLayers(t *testing.T) {
	m := logreg()
	// z = ((3-1)/2, (6-2)/4) = (1, 1); logit = 1 - 1 + 0.5.
	if got, want := m.Probability([]float64{3, 6}), 1/(1+math.Exp(-0.5)); math.Abs(got-want) > 1e-15 || m.Label([]float64{3, 6}) != 1 {
		t.Errorf("probability %v label %d, want %v and 1", got, m.Label([]float64{3, 6}), want)
	}
	mlp := &Model{Kind: MLP, Features: []string{"a"}, Mean: []float64{0}, Std: []float64{1}, Threshold: 0.5,
		Layers: []Layer{{In: 1, Out: 2, W: []float64{1, -1}, B: []float64{0, 0}}, {In: 2, Out: 1, W: []float64{1, 1}, B: []float64{0}}}}
	// ReLU between layers: x = -2 gives hidden (0, 2), logit 2.
	if got := mlp.Logit([]float64{-2}); got != 2 {
		t.Errorf("MLP logit %v, want 2", got)
	}
}

func TestValidateNamesTheFault(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Model)
		want string
	}{
		{"kind", func(m *Model) { m.Kind = "tree" }, "model kind"},
		{"means", func(m *Model) { m.Mean = m.Mean[:1] }, "means"},
		{"zero std", func(m *Model) { m.Std[1] = 0 }, `feature "b"`},
		{"weights", func(m *Model) { m.Layers[0].W = m.Layers[0].W[:1] }, "layer 0"},
		{"two outputs", func(m *Model) { m.Layers[0] = Layer{In: 2, Out: 2, W: make([]float64, 4), B: make([]float64, 2)} }, "last layer has 2 outputs"},
	}
	if err := logreg().Validate(); err != nil {
		t.Fatalf("a valid model: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := logreg()
			tt.mod(m)
			if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}
