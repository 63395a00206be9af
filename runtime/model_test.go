package runtime_test

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

func fp32Tensor(name string, shape []int64, fill func(i int) float32) tensor.Tensor {
	n := int(tensor.Elements(shape))
	b := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(fill(i)))
	}
	return tensor.Tensor{Name: name, DataType: tensor.FP32, Shape: shape, Data: b}
}

func fp32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func loadPPOCR(t testing.TB, cfg runtime.SessionConfig) *runtime.Model {
	ortest.Init(t)
	m, err := runtime.Load(ortest.PPOCR(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestPPOCRSignature(t *testing.T) {
	m := loadPPOCR(t, runtime.DefaultSessionConfig())
	sig := m.Signature()
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "x" || sig.Inputs[0].DataType != tensor.FP32 ||
		!tensor.SameShape(sig.Inputs[0].Dims, []int64{-1, 3, -1, -1}) {
		t.Errorf("inputs = %+v, want x FP32 [-1,3,-1,-1]", sig.Inputs)
	}
	if len(sig.Outputs) != 1 || sig.Outputs[0].Name != "softmax_0.tmp_0" ||
		!tensor.SameShape(sig.Outputs[0].Dims, []int64{-1, 2}) {
		t.Errorf("outputs = %+v, want softmax_0.tmp_0 FP32 [-1,2]", sig.Outputs)
	}
	if !sig.Batched {
		t.Error("ppocr-cls not seen as batched")
	}
	if v := runtime.Version(); v != runtime.ORTVersion {
		t.Errorf("loaded onnx runtime %q, want %q", v, runtime.ORTVersion)
	}
}

func TestPPOCRRunGivesProbabilities(t *testing.T) {
	m := loadPPOCR(t, runtime.DefaultSessionConfig())
	in := fp32Tensor("x", []int64{3, 3, 48, 192}, func(i int) float32 { return float32(i%255)/255 - 0.5 })
	out, err := runOne(context.Background(), m, in)
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(out[0].Shape, []int64{3, 2}) {
		t.Fatalf("output shape %v, want [3,2]", out[0].Shape)
	}
	p := fp32s(out[0].Data)
	for row := range 3 {
		if s := p[2*row] + p[2*row+1]; math.Abs(float64(s)-1) > 1e-4 {
			t.Errorf("row %d probabilities %v sum to %v, want 1", row, p[2*row:2*row+2], s)
		}
	}
}

// runOne runs one call alone on instance 0 and returns its outputs.
func runOne(ctx context.Context, m *runtime.Model, inputs ...tensor.Tensor) ([]tensor.Tensor, error) {
	items := []runtime.BatchItem{{Inputs: inputs}}
	_, err := m.RunBatch(ctx, 0, items, nil)
	return items[0].Outputs, err
}

func TestRunHonoursCancelledContext(t *testing.T) {
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances = 1
	m := loadPPOCR(t, cfg)
	in := fp32Tensor("x", []int64{64, 3, 48, 192}, func(i int) float32 { return 0.1 })
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	// A context already ended sets the run's terminate flag before the
	// run starts: it is terminated whatever the machine's speed.
	_, err := runOne(expired, m, in)
	if tensor.KindOf(err) != tensor.DeadlineExceeded || !strings.Contains(err.Error(), "inference cancelled") {
		t.Fatalf("run past its deadline: err = %v (kind %v), want deadline exceeded from a terminated run", err, tensor.KindOf(err))
	}
	// The instance must be usable again after a terminated run.
	if _, err := runOne(context.Background(), m, fp32Tensor("x", []int64{1, 3, 48, 192}, func(int) float32 { return 0 })); err != nil {
		t.Fatalf("run after a terminated run: %v", err)
	}
}
