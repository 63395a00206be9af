package rollout

import (
	"math"

	"github.com/sluice-serving/sluice/tensor"
)

// compareOutputs reports whether a candidate agrees with the primary and
// the largest absolute difference over numeric outputs. Floating outputs
// (FP16, BF16, FP32, FP64) with classes along the last dimension agree when each
// row's argmax matches; a floating output with one value per row, or rank
// 0, is a score with no class to agree on and counts through its
// difference only. Integer and boolean outputs (labels) agree when equal;
// BYTES when identical.
func compareOutputs(primary, cand []tensor.Tensor) (agree bool, maxDiff float64) {
	if len(primary) != len(cand) {
		return false, math.Inf(1)
	}
	agree = true
	for i := range primary {
		p, c := &primary[i], &cand[i]
		if p.DataType != c.DataType || !tensor.SameShape(p.Shape, c.Shape) || len(p.Data) != len(c.Data) {
			return false, math.Inf(1)
		}
		if p.DataType == tensor.Bytes {
			agree = agree && string(p.Data) == string(c.Data)
			continue
		}
		a, b := numbers(p), numbers(c)
		for k := range a {
			maxDiff = max(maxDiff, math.Abs(a[k]-b[k]))
		}
		classes := 1
		if len(p.Shape) > 0 {
			classes = int(p.Shape[len(p.Shape)-1])
		}
		switch {
		case !floating(p.DataType):
			agree = agree && string(p.Data) == string(c.Data)
		case classes > 1:
			agree = agree && sameArgmax(a, b, classes)
		}
	}
	return agree, maxDiff
}

// numbers reads a numeric tensor's elements as float64.
func numbers(t *tensor.Tensor) []float64 {
	size := t.DataType.Size()
	out := make([]float64, len(t.Data)/size)
	for i := range out {
		out[i] = tensor.Element(t.DataType, t.Data[i*size:])
	}
	return out
}

func floating(dt tensor.DataType) bool {
	return dt == tensor.FP16 || dt == tensor.BF16 || dt == tensor.FP32 || dt == tensor.FP64
}

func sameArgmax(a, b []float64, classes int) bool {
	for row := 0; row+classes <= len(a); row += classes {
		if argmax(a[row:row+classes]) != argmax(b[row:row+classes]) {
			return false
		}
	}
	return true
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
