package onnx_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/pipeline/model"
	"github.com/sluice-serving/sluice/pipeline/onnx"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
)

func TestVerifyAgreesWithGo(t *testing.T) {
	ortest.Init(t)
	x := rows(1000)
	for name, build := range map[string]func() *model.Model{"logreg": logReg, "mlp": mlp} {
		t.Run(name, func(t *testing.T) {
			m := build()
			maxDiff, err := onnx.Verify(exportFile(t, m), m, x)
			if err != nil {
				t.Fatal(err)
			}
			if maxDiff > 1e-5 {
				t.Fatalf("max |probability difference| %g, expected ≤ 1e-5", maxDiff)
			}
			t.Logf("%s: max |probability difference| over %d rows: %.3g", name, len(x), maxDiff)
		})
	}
}

func TestExportedSignature(t *testing.T) {
	ortest.Init(t)
	sig, err := runtime.ReadSignature(exportFile(t, mlp()))
	if err != nil {
		t.Fatal(err)
	}
	want := onnx.ExpectedSignature(8)
	got, exp := append(sig.Inputs, sig.Outputs...), append(want.Inputs, want.Outputs...)
	if len(sig.Inputs) != 1 || len(got) != len(exp) || !sig.Batched {
		t.Fatalf("signature %+v, expected %+v", sig, want)
	}
	for i, io := range got {
		if io.Name != exp[i].Name || io.DataType != exp[i].DataType || !slices.Equal(io.Dims, exp[i].Dims) {
			t.Fatalf("%d: %+v, expected %+v", i, io, exp[i])
		}
	}
}

// The committed student-success/1 model is the Go model with its weights
// on unnormalised features: Verify must accept it.
func TestVerifyAcceptsStudentSuccessFixture(t *testing.T) {
	ortest.Init(t)
	m := &model.Model{
		Kind: model.LogReg, Features: features, Threshold: 0.5,
		Mean: make([]float64, 8), Std: []float64{1, 1, 1, 1, 1, 1, 1, 1},
		Layers: []model.Layer{{In: 8, Out: 1, W: []float64{2.5, 1.8, 3.0, 1.2, 2.2, 0.6, -0.9, -2.0}, B: []float64{-4.5}}},
	}
	maxDiff, err := onnx.Verify(ortest.Path(t, "models/student-success/1/model.onnx"), m, unitRows(500))
	if err != nil || maxDiff > 1e-5 {
		t.Fatalf("max difference %g, error %v; expected ≤ 1e-5 and none", maxDiff, err)
	}
}

func TestVerifyCatchesDifferentModel(t *testing.T) {
	ortest.Init(t)
	path := exportFile(t, logReg())
	shifted := logReg()
	shifted.Layers[0].B = []float64{2} // moves most rows across the threshold
	_, err := onnx.Verify(path, shifted, rows(300))
	if !errors.Is(err, onnx.ErrMismatch) || !strings.Contains(err.Error(), "labelled") {
		t.Fatalf("error %v, expected a label mismatch", err)
	}
}

func TestVerifyCatchesWrongSignature(t *testing.T) {
	ortest.Init(t)
	_, err := onnx.Verify(ortest.Fixture(t, "mlp"), logReg(), rows(10))
	if !errors.Is(err, onnx.ErrMismatch) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("error %v, expected a signature mismatch", err)
	}
}

func TestVerifyRefusesBadRows(t *testing.T) {
	ortest.Init(t)
	path := exportFile(t, logReg())
	short := rows(3)
	short[2] = short[2][:7]
	tests := map[string]struct {
		x    [][]float64
		want string
	}{
		"no rows":     {nil, "no rows"},
		"short row":   {short, "row 2 has 7 features, expected 8"},
		"invalid std": {rows(1), "standard deviation"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m := logReg()
			if name == "invalid std" {
				m.Std = make([]float64, 8)
			}
			if _, err := onnx.Verify(path, m, tt.x); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, expected one containing %q", err, tt.want)
			}
		})
	}
}

// unitRows are features in [0, 1], the scale student-success was built for.
func unitRows(n int) [][]float64 {
	x := rows(n)
	for i := range x {
		for j := range x[i] {
			x[i][j] = (x[i][j] - means[j] + 3*stds[j]) / (6 * stds[j])
		}
	}
	return x
}
