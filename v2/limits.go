package v2

import (
	"fmt"

	"github.com/sluice-serving/sluice/tensor"
)

// Limits bound what one infer request may ask the decoder to build, so
// that a small body cannot promise a huge allocation or a deep recursion.
// A zero field takes its default (DefaultLimits), so a zero Call decodes
// under the defaults; the server's config may set them later.
type Limits struct {
	MaxInputs   int   // tensors in "inputs"
	MaxOutputs  int   // entries in "outputs"
	MaxRank     int   // dimensions of one shape
	MaxElements int64 // elements one tensor's shape may promise
	MaxDepth    int   // JSON nesting, the top-level object counting as 1
}

// maxSkipDepth is the deepest nesting the scanner can follow: skip keeps
// one bit per level of a uint64 to know an object from an array.
const maxSkipDepth = 64

// DefaultLimits are far above any model Sluice serves (PP-OCR sends 4
// dimensions and one input) and far below what would hurt the process:
// 1<<28 FP32 elements are 1 GiB, more than the default body size allows.
func DefaultLimits() Limits {
	return Limits{MaxInputs: 64, MaxOutputs: 64, MaxRank: 8, MaxElements: 1 << 28, MaxDepth: 64}
}

// Validate checks limits a config gave: negative values, and a depth the
// scanner cannot follow, are refused; zero means the default.
func (l Limits) Validate() error {
	switch {
	case l.MaxInputs < 0, l.MaxOutputs < 0, l.MaxRank < 0, l.MaxElements < 0, l.MaxDepth < 0:
		return fmt.Errorf("limits must not be negative: %+v", l)
	case l.MaxDepth > maxSkipDepth:
		return fmt.Errorf("max_depth %d: at most %d is supported", l.MaxDepth, maxSkipDepth)
	case l.MaxElements > 1<<48:
		// checkOutput and CheckData refuse counts past 2^48: byte sizes
		// must not overflow int64.
		return fmt.Errorf("max_elements %d: at most 2^48 is supported", l.MaxElements)
	}
	return nil
}

// orDefault fills each zero field from DefaultLimits and clamps the depth
// to what the scanner can follow, so a Limits never given to Validate is
// still safe.
func (l Limits) orDefault() Limits {
	d := DefaultLimits()
	l.MaxInputs = pick(l.MaxInputs, d.MaxInputs)
	l.MaxOutputs = pick(l.MaxOutputs, d.MaxOutputs)
	l.MaxRank = pick(l.MaxRank, d.MaxRank)
	l.MaxElements = pick(l.MaxElements, d.MaxElements)
	l.MaxDepth = min(pick(l.MaxDepth, d.MaxDepth), maxSkipDepth)
	return l
}

func pick[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// responseLimits bound what a client decodes: a response carries every
// output a model has, of any rank the model declares, so only the bounds
// that keep the arithmetic and the recursion safe apply.
var responseLimits = Limits{MaxRank: 32, MaxElements: 1 << 48, MaxDepth: maxSkipDepth}

// tooMany is the error for a list longer than its limit allows.
func tooMany(what string, limit int) error {
	return tensor.Errorf(tensor.InvalidArgument, "request has more than %d %s, the limit (max_%s)", limit, what, what)
}
