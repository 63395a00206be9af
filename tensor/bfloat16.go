package tensor

import "math"

// BFloat16FromFloat32 rounds f to bfloat16 (round to nearest even), the
// element layout of BF16 tensors: the top 16 bits of f's binary32 form.
// A NaN stays a NaN, quiet, with its sign; a finite f past bfloat16's
// largest value rounds to infinity.
func BFloat16FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		// Truncating could clear every mantissa bit left, making an
		// infinity; setting the quiet bit keeps it NaN.
		return uint16(b>>16) | 0x0040
	}
	// Adding 0x7fff, plus 1 when the kept half is odd, carries into the
	// kept half when the dropped half is over 0x8000, or exactly 0x8000
	// with the kept half odd: to nearest, ties to even. A carry out of
	// the mantissa steps the exponent, still correct, up to infinity.
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BFloat16FromFloat64 rounds f to bfloat16 (round to nearest even) in one
// step; BFloat16FromFloat32(float32(f)) would round twice, and a value
// just past a tie could land on it and then go to even.
func BFloat16FromFloat64(f float64) uint16 {
	r := float32(f)
	if d := float64(r); d != f && !math.IsNaN(f) && !math.IsInf(float64(r), 0) {
		// Narrow with round to odd instead: when r is even, take its
		// neighbour on f's side. float32 keeps 16 bits more than
		// bfloat16, so rounding that to nearest even rounds f correctly.
		b := math.Float32bits(r)
		if b&1 == 0 {
			if math.Abs(d) > math.Abs(f) {
				b--
			} else {
				b++
			}
		}
		r = math.Float32frombits(b)
	}
	return BFloat16FromFloat32(r)
}

// Float32FromBFloat16 widens a bfloat16 value exactly.
func Float32FromBFloat16(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}
