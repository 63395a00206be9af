package onnx_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-serving/sluice/pipeline/model"
	"github.com/sluice-serving/sluice/pipeline/onnx"
)

var features = []string{"attendance", "homework", "midterm", "study_hours", "prior_gpa", "sleep", "job_hours", "absences"}

// Non-trivial normalisation: folding it into the first layer is what the
// tests must catch getting wrong.
var (
	means = []float64{0.8, 0.7, 62, 12, 3.1, 7.2, 9, 4}
	stds  = []float64{0.1, 0.15, 14, 5, 0.5, 1.1, 6, 3}
)

func logReg() *model.Model {
	return &model.Model{
		Kind: model.LogReg, Features: features, Mean: means, Std: stds, Threshold: 0.42,
		Layers: []model.Layer{{In: 8, Out: 1, W: []float64{1.1, 0.8, 1.5, 0.4, 0.9, 0.2, -0.6, -1.2}, B: []float64{-0.3}}},
	}
}

// mlp is 8→16→1 with weights from a fixed seed.
func mlp() *model.Model {
	r := rand.New(rand.NewPCG(1, 2))
	return &model.Model{
		Kind: model.MLP, Features: features, Mean: means, Std: stds, Threshold: 0.5,
		Layers: []model.Layer{randomLayer(r, 8, 16), randomLayer(r, 16, 1)},
	}
}

func randomLayer(r *rand.Rand, in, out int) model.Layer {
	l := model.Layer{In: in, Out: out, W: make([]float64, in*out), B: make([]float64, out)}
	for i := range l.W {
		l.W[i] = r.NormFloat64() / float64(in)
	}
	for i := range l.B {
		l.B[i] = r.NormFloat64() * 0.1
	}
	return l
}

// rows are n raw feature rows within three standard deviations of the mean.
func rows(n int) [][]float64 {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([][]float64, n)
	for i := range x {
		x[i] = make([]float64, len(means))
		for j := range x[i] {
			x[i][j] = means[j] + stds[j]*(6*r.Float64()-3)
		}
	}
	return x
}

// exportFile writes m's export to a temporary model.onnx.
func exportFile(t *testing.T, m *model.Model) string {
	t.Helper()
	b, err := onnx.Export(m, "student_success")
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
