package runtime_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

func bf16Bytes(hs ...uint16) []byte {
	var out []byte
	for _, h := range hs {
		out = binary.LittleEndian.AppendUint16(out, h)
	}
	return out
}

func fp32Bytes(fs ...float32) []byte {
	var out []byte
	for _, f := range fs {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
	}
	return out
}

func loadBF16(t *testing.T) *runtime.Model {
	t.Helper()
	ortest.Init(t)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, ortest.BF16Model(t), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := runtime.Load(path, runtime.DefaultSessionConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// A model with bfloat16 inputs and outputs shows them as BF16 and runs on
// BF16 tensors: the bytes go in and out as 2-byte bfloat16 elements, and
// ONNX Runtime reads and writes them as tensor's conversions do.
func TestBF16Model(t *testing.T) {
	m := loadBF16(t)
	sig := m.Signature()
	want := runtime.Signature{
		Inputs: []runtime.IO{{Name: "in_bf16", DataType: tensor.BF16, Dims: []int64{-1, 3}}, {Name: "in_fp32", DataType: tensor.FP32, Dims: []int64{-1, 3}}},
		Outputs: []runtime.IO{{Name: "out_bf16", DataType: tensor.BF16, Dims: []int64{-1, 3}},
			{Name: "out_fp32", DataType: tensor.FP32, Dims: []int64{-1, 3}}, {Name: "out_cast", DataType: tensor.BF16, Dims: []int64{-1, 3}}},
		Batched: true,
	}
	if !sameSignature(sig, want) {
		t.Fatalf("signature %+v, want %+v", sig, want)
	}

	// 1, -2, 0.1 rounded, the largest, the smallest subnormal, -0.
	bf := []uint16{0x3f80, 0xc000, 0x3dcd, 0x7f7f, 0x0001, 0x8000}
	fs := []float32{
		1, -2.5, math.Pi,
		math.Float32frombits(0x3f808000), // a tie, to even: 0x3f80
		math.Float32frombits(0x3f818000), // a tie, to even: 0x3f82
		math.Float32frombits(0x3f808001), // past the tie: 0x3f81
	}
	in := []tensor.Tensor{
		{Name: "in_bf16", DataType: tensor.BF16, Shape: []int64{2, 3}, Data: bf16Bytes(bf...)},
		{Name: "in_fp32", DataType: tensor.FP32, Shape: []int64{2, 3}, Data: fp32Bytes(fs...)},
	}
	out, err := runOne(context.Background(), m, in...)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d outputs, want 3", len(out))
	}
	for _, o := range out {
		if !tensor.SameShape(o.Shape, []int64{2, 3}) {
			t.Errorf("%s: shape %v, want [2,3]", o.Name, o.Shape)
		}
	}
	if o := out[0]; o.DataType != tensor.BF16 || !slices.Equal(o.Data, in[0].Data) {
		t.Errorf("out_bf16: %v %x, want BF16 %x", o.DataType, o.Data, in[0].Data)
	}
	var widened []float32
	for _, h := range bf {
		widened = append(widened, tensor.Float32FromBFloat16(h))
	}
	if o := out[1]; o.DataType != tensor.FP32 || !slices.Equal(o.Data, fp32Bytes(widened...)) {
		t.Errorf("out_fp32: %v %v, want FP32 %v", o.DataType, fp32s(o.Data), widened)
	}
	var narrowed []uint16
	for _, f := range fs {
		narrowed = append(narrowed, tensor.BFloat16FromFloat32(f))
	}
	if o := out[2]; o.DataType != tensor.BF16 || !slices.Equal(o.Data, bf16Bytes(narrowed...)) {
		t.Errorf("out_cast: %v %x, want BF16 %x (ONNX Runtime's rounding differs from BFloat16FromFloat32)", o.DataType, o.Data, bf16Bytes(narrowed...))
	}
}

func sameSignature(a, b runtime.Signature) bool {
	same := func(x, y []runtime.IO) bool {
		return slices.EqualFunc(x, y, func(p, q runtime.IO) bool {
			return p.Name == q.Name && p.DataType == q.DataType && slices.Equal(p.Dims, q.Dims)
		})
	}
	return a.Batched == b.Batched && same(a.Inputs, b.Inputs) && same(a.Outputs, b.Outputs)
}
