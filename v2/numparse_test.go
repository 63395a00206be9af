package v2

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestParseFloatAgreesWithStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	samples := []string{"0", "-0", "1", "0.1", "1e-45", "3.4028235e38", "3.4028236e38", "1.00000005960464477539062", "2.5e-8", "123456789012345678901234567890", "1E5", "0.000001", "-7.006492321624085e-46", "1.401298464324817e-45", "9007199254740993", "16777217"}
	for range 20000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		samples = append(samples, strconv.FormatFloat(f, 'g', -1, 64), strconv.FormatFloat(float64(float32(f)), 'g', -1, 32), strconv.FormatFloat(r.Float64()*1000, 'f', r.IntN(12), 64))
	}
	for _, s := range samples {
		if sc := (&scanner{b: []byte(s)}); func() bool { _, err := sc.number(); return err != nil || sc.i != len(s) }() {
			continue // not a JSON number (Inf), never reaches the parsers
		}
		g32, err32 := parseFloat32([]byte(s))
		w32, werr32 := strconv.ParseFloat(s, 32)
		if (err32 == nil) != (werr32 == nil) || (err32 == nil && g32 != float32(w32)) {
			t.Errorf("parseFloat32(%s) = %v, %v; strconv gives %v, %v", s, g32, err32, float32(w32), werr32)
		}
		g64, err64 := parseFloat64([]byte(s))
		w64, werr64 := strconv.ParseFloat(s, 64)
		if (err64 == nil) != (werr64 == nil) || (err64 == nil && g64 != w64) {
			t.Errorf("parseFloat64(%s) = %v, %v; strconv gives %v, %v", s, g64, err64, w64, werr64)
		}
	}
}

// The arena hands out slices that never overlap, within a call and after
// a slice outgrows its block, and reuses one block once it knows the size.
func TestArenaSlicesDoNotOverlap(t *testing.T) {
	var a arena[byte]
	for call := range 3 {
		var got [][]byte
		for i, n := range []int{3, 0, 5, 40} {
			s := a.start(min(n, 4))
			for range n {
				s = append(s, byte(i))
			}
			got = append(got, a.done(s))
		}
		for i, s := range got {
			for _, c := range s {
				if c != byte(i) {
					t.Fatalf("call %d: slice %d holds %v", call, i, s)
				}
			}
		}
		a.reset(1 << 10)
		if call > 0 && cap(a.block) < 48 {
			t.Errorf("call %d: block of %d does not hold a whole call of 48", call, cap(a.block))
		}
	}
}
