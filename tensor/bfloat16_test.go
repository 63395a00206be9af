package tensor

import (
	"math"
	"testing"
)

func TestBFloat16RoundTrip(t *testing.T) {
	// Every bfloat16 value widens and narrows back to itself; NaNs stay
	// NaN with their sign.
	for h := 0; h < 1<<16; h++ {
		f := Float32FromBFloat16(uint16(h))
		got := BFloat16FromFloat32(f)
		if math.IsNaN(float64(f)) {
			if got&0x7f80 != 0x7f80 || got&0x7f == 0 || got&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("NaN %#04x narrowed to %#04x", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
	}
}

func TestBFloat16Rounding(t *testing.T) {
	maxBF16 := math.Float32frombits(0x7f7f0000)
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"minus zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3f80},
		{"minus two", -2, 0xc000},
		{"pi", math.Pi, 0x4049},
		{"one tenth", 0.1, 0x3dcd},
		{"max", maxBF16, 0x7f7f},
		{"just under the halfway to overflow", math.Float32frombits(0x7f7f7fff), 0x7f7f},
		{"overflow to infinity", math.Float32frombits(0x7f7f8000), 0x7f80},
		{"max float32", math.MaxFloat32, 0x7f80},
		{"minus max float32", -math.MaxFloat32, 0xff80},
		{"infinity", float32(math.Inf(1)), 0x7f80},
		{"minus infinity", float32(math.Inf(-1)), 0xff80},
		{"smallest subnormal", math.Float32frombits(0x00010000), 0x0001},
		{"below half the smallest subnormal", math.Float32frombits(0x00007fff), 0x0000},
		{"half the smallest subnormal ties to zero", math.Float32frombits(0x00008000), 0x0000},
		{"smallest float32 subnormal", math.Float32frombits(1), 0x0000},
		{"tie to even down", math.Float32frombits(0x3f808000), 0x3f80},
		{"tie to even up", math.Float32frombits(0x3f818000), 0x3f82},
		{"above the tie", math.Float32frombits(0x3f808001), 0x3f81},
		{"below the tie", math.Float32frombits(0x3f807fff), 0x3f80},
		{"carry into the exponent", math.Float32frombits(0x3fffc000), 0x4000},
		{"quiet NaN", math.Float32frombits(0x7fc00000), 0x7fc0},
		{"negative NaN", math.Float32frombits(0xffc00000), 0xffc0},
		{"NaN whose payload truncation drops", math.Float32frombits(0x7f800001), 0x7fc0},
		{"NaN with a high payload", math.Float32frombits(0x7fffffff), 0x7fff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BFloat16FromFloat32(tt.in); got != tt.want {
				t.Errorf("BFloat16FromFloat32(%v [%#08x]) = %#04x, want %#04x", tt.in, math.Float32bits(tt.in), got, tt.want)
			}
		})
	}
}

// Rounding matches converting through float64 and picking the nearer of
// the two bfloat16 neighbours, ties to even, over a spread of float32 bits.
func TestBFloat16RoundingMatchesReference(t *testing.T) {
	for b := uint32(0); b < 1<<32-1<<20; b += 1<<20 - 7 {
		f := math.Float32frombits(b)
		if math.IsNaN(float64(f)) {
			continue
		}
		got, want := BFloat16FromFloat32(f), referenceBFloat16(f)
		if got != want {
			t.Fatalf("BFloat16FromFloat32(%#08x) = %#04x, want %#04x", b, got, want)
		}
	}
}

func referenceBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0xffff == 0 {
		return uint16(b >> 16)
	}
	return referenceBFloat16Of(float64(f))
}

// referenceBFloat16Of rounds a finite f, not a bfloat16 itself, by
// measuring the distance to its two bfloat16 neighbours.
func referenceBFloat16Of(f float64) uint16 {
	lo := uint16(math.Float32bits(float32(f)) >> 16) // toward zero, or one step past
	if math.Abs(float64(Float32FromBFloat16(lo))) > math.Abs(f) {
		lo--
	}
	hi := lo + 1 // away from zero; past the largest, infinity
	dlo := math.Abs(f - float64(Float32FromBFloat16(lo)))
	var dhi float64
	if lo&0x7fff == 0x7f7f {
		// The next bfloat16 up is infinity; round as if it were 2^128.
		dhi = math.Abs(math.Abs(f) - 0x1p128)
	} else {
		dhi = math.Abs(f - float64(Float32FromBFloat16(hi)))
	}
	switch {
	case dlo < dhi:
		return lo
	case dhi < dlo:
		return hi
	case lo&1 == 0:
		return lo
	}
	return hi
}

func TestBFloat16FromFloat64(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"a tie, to even down", 1 + 0x1p-8, 0x3f80},
		{"a tie, to even up", 1 + 3*0x1p-8, 0x3f82},
		// float32 rounds these onto the tie; one rounding does not.
		{"just past a tie", 1 + 0x1p-8 + 0x1p-30, 0x3f81},
		{"just short of a tie", 1 + 3*0x1p-8 - 0x1p-30, 0x3f81},
		{"negative, just past a tie", -(1 + 0x1p-8 + 0x1p-30), 0xbf81},
		{"the largest", 0x1.fep127, 0x7f7f},
		{"just under halfway to 2^128", 0x1.ffp127 - 0x1p80, 0x7f7f},
		{"halfway to 2^128", 0x1.ffp127, 0x7f80},
		{"past float32", -1e39, 0xff80},
		{"infinity", math.Inf(1), 0x7f80},
		{"NaN", math.NaN(), 0x7fc0},
		{"past a subnormal tie", 0x1p-134 + 0x1p-160, 0x0001},
		{"a subnormal tie, to even", 0x1p-134, 0x0000},
		{"below every float32", 1e-50, 0x0000},
		{"negative, below every float32", -1e-50, 0x8000},
		{"minus zero", math.Copysign(0, -1), 0x8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BFloat16FromFloat64(tt.in); got != tt.want {
				t.Errorf("BFloat16FromFloat64(%v) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
	// Against the reference, over a spread of float64 bits inside
	// bfloat16's range.
	for b := uint64(0x3690000000000000); b < 0x47efe00000000000; b += 0x0000_1357_9bdf_1235 {
		for _, f := range []float64{math.Float64frombits(b), -math.Float64frombits(b)} {
			if got, want := BFloat16FromFloat64(f), referenceBFloat16Of(f); got != want {
				t.Fatalf("BFloat16FromFloat64(%v [%#016x]) = %#04x, want %#04x", f, math.Float64bits(f), got, want)
			}
		}
	}
}
