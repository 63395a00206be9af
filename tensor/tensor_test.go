package tensor

import (
	"errors"
	"math"
	"strings"
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
	n := 0
	for d := Bool; d.Valid(); d++ {
		n++
		got, err := ParseDataType(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDataType(%q) = %v, %v", d.String(), got, err)
		}
		if got, err := ParseDataTypeBytes([]byte(d.String())); err != nil || got != d {
			t.Errorf("ParseDataTypeBytes(%q) = %v, %v", d.String(), got, err)
		}
	}
	if n != 14 {
		t.Errorf("%d valid data types, want 14", n)
	}
	_, err := ParseDataType("FLOAT")
	if err == nil {
		t.Fatal("ParseDataType(FLOAT) accepted a non-v2 name")
	}
	for d := Bool; d.Valid(); d++ {
		if !strings.Contains(err.Error(), " "+d.String()+",") && !strings.HasSuffix(err.Error(), " "+d.String()) {
			t.Errorf("the error %q does not list %s", err, d)
		}
	}
	if _, err := ParseDataTypeBytes([]byte("bf16")); err == nil {
		t.Error("ParseDataTypeBytes(bf16) accepted a name in the wrong case")
	}
}

// The numbers of the types are fixed: new types are appended.
func TestDataTypeNumbersAndSizes(t *testing.T) {
	if Bytes != 13 || BF16 != 14 || FP16 != 10 {
		t.Errorf("Bytes = %d, BF16 = %d, FP16 = %d; want 13, 14, 10", Bytes, BF16, FP16)
	}
	if BF16.String() != "BF16" || BF16.Size() != 2 || !BF16.Valid() {
		t.Errorf("BF16: %q, size %d, valid %v", BF16.String(), BF16.Size(), BF16.Valid())
	}
	if (BF16 + 1).Valid() || (BF16+1).Size() != 0 || (BF16+1).String() != "DataType(15)" {
		t.Errorf("the type after BF16: valid %v, size %d, %q", (BF16 + 1).Valid(), (BF16 + 1).Size(), (BF16 + 1).String())
	}
}
