package tensor

import (
	"errors"
	"math"
	"testing"
)

func TestHalfRoundTrip(t *testing.T) {
	// Every binary16 value widens and narrows back to itself.
	for h := 0; h < 1<<16; h++ {
		f := Float32FromHalf(uint16(h))
		got := HalfFromFloat32(f)
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x narrowed to %#04x", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
	}
}

func TestHalfRounding(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"max", 65504, 0x7bff},
		{"overflow", 70000, 0x7c00},
		{"smallest subnormal", 5.960464477539063e-08, 0x0001},
		{"underflow", 1e-9, 0},
		{"tie to even down", 1 + 1.0/2048, 0x3c00},
		{"tie to even up", 1 + 3.0/2048, 0x3c02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HalfFromFloat32(tt.in); got != tt.want {
				t.Errorf("HalfFromFloat32(%v) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckData(t *testing.T) {
	str := AppendBytesElement(AppendBytesElement(nil, []byte("ab")), []byte(""))
	tests := []struct {
		name string
		t    Tensor
		ok   bool
	}{
		{"fp32 exact", Tensor{Name: "x", DataType: FP32, Shape: []int64{2, 2}, Data: make([]byte, 16)}, true},
		{"fp32 short", Tensor{Name: "x", DataType: FP32, Shape: []int64{2, 2}, Data: make([]byte, 12)}, false},
		{"bytes exact", Tensor{Name: "s", DataType: Bytes, Shape: []int64{2}, Data: str}, true},
		{"bytes count off", Tensor{Name: "s", DataType: Bytes, Shape: []int64{3}, Data: str}, false},
		{"bytes truncated", Tensor{Name: "s", DataType: Bytes, Shape: []int64{2}, Data: str[:5]}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.t.CheckData()
			if (err == nil) != tt.ok {
				t.Fatalf("CheckData() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && KindOf(err) != InvalidArgument {
				t.Errorf("kind = %v, want invalid argument", KindOf(err))
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	base := errors.New("boom")
	if KindOf(base) != Internal {
		t.Errorf("unclassified error kind = %v, want internal", KindOf(base))
	}
	wrapped := Errorf(NotFound, "model %q: %w", "m", base)
	if KindOf(wrapped) != NotFound || !errors.Is(wrapped, base) {
		t.Errorf("wrapped kind = %v, is(base) = %v", KindOf(wrapped), errors.Is(wrapped, base))
	}
}

func TestParseDataType(t *testing.T) {
	for d := Bool; d <= Bytes; d++ {
		got, err := ParseDataType(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDataType(%q) = %v, %v", d.String(), got, err)
		}
	}
	if _, err := ParseDataType("FLOAT"); err == nil {
		t.Error("ParseDataType(FLOAT) accepted a non-v2 name")
	}
}
