package runtime_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// The widemlp fixture's signature: x FP32 [batch, 512] -> y FP32 [batch, 16].
const wideIn, wideOut = 256, 16

func loadWideMLP(tb testing.TB) *runtime.Model {
	ortest.Init(tb)
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances, cfg.IntraOpThreads = 1, 1
	m, err := runtime.Load(ortest.Fixture(tb, "widemlp"), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

// wideRows is rows rows of x, each different, in [-1, 1].
func wideRows(rows int64) tensor.Tensor {
	return fp32Tensor("x", []int64{rows, wideIn}, func(i int) float32 { return float32((i*37)%201)/100 - 1 })
}

func TestWideMLPSignature(t *testing.T) {
	sig := loadWideMLP(t).Signature()
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "x" || sig.Inputs[0].DataType != tensor.FP32 ||
		!tensor.SameShape(sig.Inputs[0].Dims, []int64{-1, wideIn}) {
		t.Errorf("inputs = %+v, want x FP32 [-1,%d]", sig.Inputs, wideIn)
	}
	if len(sig.Outputs) != 1 || sig.Outputs[0].Name != "y" || sig.Outputs[0].DataType != tensor.FP32 ||
		!tensor.SameShape(sig.Outputs[0].Dims, []int64{-1, wideOut}) {
		t.Errorf("outputs = %+v, want y FP32 [-1,%d]", sig.Outputs, wideOut)
	}
	if !sig.Batched {
		t.Error("widemlp not seen as batched")
	}
}

// TestWideMLPBatchRowsMatchAlone checks that batching does not change
// answers: row i of a batch of 16, run as one tensor or stacked from 16
// one-row calls, is row i run alone.
func TestWideMLPBatchRowsMatchAlone(t *testing.T) {
	m := loadWideMLP(t)
	const rows = 16
	x := wideRows(rows)
	alone := make([][]float32, rows)
	stacked := make([]runtime.BatchItem, rows)
	for i := range int64(rows) {
		row := tensor.Tensor{Name: "x", DataType: tensor.FP32, Shape: []int64{1, wideIn}, Data: x.Data[i*4*wideIn : (i+1)*4*wideIn]}
		alone[i] = wideRun(t, m, row, 1)
		stacked[i].Inputs = []tensor.Tensor{row}
	}
	whole := wideRun(t, m, x, rows)
	if _, err := m.RunBatch(context.Background(), 0, stacked, nil); err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		compareRows(t, fmt.Sprintf("row %d of one [16,%d] tensor", i, wideIn), whole[i*wideOut:(i+1)*wideOut], alone[i])
		compareRows(t, fmt.Sprintf("call %d of 16 stacked", i), fp32s(stacked[i].Outputs[0].Data), alone[i])
	}
}

// wideRun runs x alone and checks y's shape.
func wideRun(t *testing.T, m *runtime.Model, x tensor.Tensor, rows int64) []float32 {
	t.Helper()
	out, err := runOne(context.Background(), m, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != "y" || !tensor.SameShape(out[0].Shape, []int64{rows, wideOut}) {
		t.Fatalf("outputs %v of %v, want y [%d,%d]", out[0].Name, out[0].Shape, rows, wideOut)
	}
	return fp32s(out[0].Data)
}

// compareRows allows float32 rounding: a batched kernel may sum in
// another order than the one-row kernel.
func compareRows(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for j := range want {
		if d := math.Abs(float64(got[j] - want[j])); d > 1e-4*(1+math.Abs(float64(want[j]))) {
			t.Errorf("%s: y[%d] = %v, alone %v", what, j, got[j], want[j])
			return
		}
	}
}

// BenchmarkWideMLP is the widemlp fixture's in-process throughput by batch
// size on one one-thread session: what dynamic batching gains on a model
// whose batch-1 run is bound by reading its weights.
func BenchmarkWideMLP(b *testing.B) {
	m := loadWideMLP(b)
	for _, batch := range []int64{1, 4, 8, 16, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			x := wideRows(batch)
			if _, err := runOne(context.Background(), m, x); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := runOne(context.Background(), m, x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(batch)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
