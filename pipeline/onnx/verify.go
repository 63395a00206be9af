package onnx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sluice-serving/sluice/pipeline/model"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// ErrMismatch is wrapped by Verify when the file disagrees with the model:
// a different signature or a different label.
var ErrMismatch = errors.New("exported model disagrees with the go model")

// verifyBatch is how many rows Verify runs per inference: large enough to
// amortise a run, small enough to keep buffers modest.
const verifyBatch = 256

// thresholdSlack is how close to the threshold a Go probability may be for
// the float32 graph to label it either way.
const thresholdSlack = 1e-6

// ExpectedSignature is what an exported model with n features declares.
func ExpectedSignature(n int) runtime.Signature {
	return runtime.Signature{
		Inputs: []runtime.IO{{Name: InputName, DataType: tensor.FP32, Dims: []int64{-1, int64(n)}}},
		Outputs: []runtime.IO{
			{Name: ProbabilityName, DataType: tensor.FP32, Dims: []int64{-1, 1}},
			{Name: LabelName, DataType: tensor.Int64, Dims: []int64{-1, 1}},
		},
		Batched: true,
	}
}

// Verify runs the ONNX file at path on every row of x with ONNX Runtime and
// compares it with m in Go. It returns the largest |probability difference|,
// and an error wrapping ErrMismatch when the signature is not
// ExpectedSignature or a label differs where m's probability is further than
// 1e-6 from the threshold. ONNX Runtime must already be initialised
// (runtime.Init).
func Verify(path string, m *model.Model, x [][]float64) (float64, error) {
	if err := m.Validate(); err != nil {
		return 0, fmt.Errorf("verifying %s: %w", path, err)
	}
	if len(x) == 0 {
		return 0, fmt.Errorf("verifying %s: no rows, expected at least one", path)
	}
	if err := checkSignature(path, len(m.Features)); err != nil {
		return 0, err
	}
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances = 1 // one caller, one batch at a time
	rm, err := runtime.Load(path, cfg)
	if err != nil {
		return 0, fmt.Errorf("verifying %s: %w", path, err)
	}
	defer rm.Close()
	return compareAll(rm, m, x)
}

func checkSignature(path string, n int) error {
	got, err := runtime.ReadSignature(path)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", path, err)
	}
	want := ExpectedSignature(n)
	if !sameSignature(got, want) {
		return fmt.Errorf("%w: %s has signature %+v, expected %+v", ErrMismatch, path, got, want)
	}
	return nil
}

func sameSignature(a, b runtime.Signature) bool {
	same := func(x, y runtime.IO) bool {
		return x.Name == y.Name && x.DataType == y.DataType && slices.Equal(x.Dims, y.Dims)
	}
	return a.Batched == b.Batched && slices.EqualFunc(a.Inputs, b.Inputs, same) && slices.EqualFunc(a.Outputs, b.Outputs, same)
}

// compareAll runs x in batches and keeps the largest difference.
func compareAll(rm *runtime.Model, m *model.Model, x [][]float64) (float64, error) {
	var maxDiff float64
	for start := 0; start < len(x); start += verifyBatch {
		rows := x[start:min(start+verifyBatch, len(x))]
		d, err := compareBatch(rm, m, rows, start)
		if err != nil {
			return maxDiff, err
		}
		maxDiff = max(maxDiff, d)
	}
	return maxDiff, nil
}

func compareBatch(rm *runtime.Model, m *model.Model, rows [][]float64, first int) (float64, error) {
	in, err := featureTensor(rows, len(m.Features), first)
	if err != nil {
		return 0, err
	}
	items := []runtime.BatchItem{{Inputs: []tensor.Tensor{in}}}
	// Verification is a bounded offline run: nothing above it cancels it.
	if _, err := rm.RunBatch(context.Background(), 0, items, nil); err != nil {
		return 0, fmt.Errorf("running rows %d to %d: %w", first, first+len(rows)-1, err)
	}
	probs, labels := items[0].Outputs[0].Data, items[0].Outputs[1].Data
	var maxDiff float64
	for i, row := range rows {
		p := float64(math.Float32frombits(binary.LittleEndian.Uint32(probs[4*i:])))
		want := m.Probability(row)
		maxDiff = max(maxDiff, math.Abs(p-want))
		if err := checkLabel(m, want, int64(binary.LittleEndian.Uint64(labels[8*i:])), first+i); err != nil {
			return maxDiff, err
		}
	}
	return maxDiff, nil
}

// checkLabel forgives a disagreement only where float32 rounding can flip
// the comparison with the threshold.
func checkLabel(m *model.Model, p float64, got int64, row int) error {
	want := int64(0)
	if p > m.Threshold {
		want = 1
	}
	if got == want || math.Abs(p-m.Threshold) <= thresholdSlack {
		return nil
	}
	return fmt.Errorf("%w: row %d labelled %d, expected %d (go probability %v, threshold %v)", ErrMismatch, row, got, want, p, m.Threshold)
}

// featureTensor packs rows into the FP32 [rows, n] "features" input.
func featureTensor(rows [][]float64, n, first int) (tensor.Tensor, error) {
	data := make([]byte, 0, 4*n*len(rows))
	for i, row := range rows {
		if len(row) != n {
			return tensor.Tensor{}, fmt.Errorf("row %d has %d features, expected %d", first+i, len(row), n)
		}
		data = append(data, float32Bytes(row)...)
	}
	return tensor.Tensor{Name: InputName, DataType: tensor.FP32, Shape: []int64{int64(len(rows)), int64(n)}, Data: data}, nil
}
