package profile

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
)

func TestNumericEdgesAtQuantiles(t *testing.T) {
	col := make([]float64, 100)
	for i := range col {
		col[i] = float64(i + 1) // 1..100
	}
	f := NumericFeature("x", 3, col, 4)
	if want := []float64{25, 50, 75, 100}; !slices.Equal(f.Edges, want) {
		t.Fatalf("edges %v, want %v", f.Edges, want)
	}
	if want := []int64{25, 25, 25, 25, 0}; !slices.Equal(f.Counts, want) {
		t.Errorf("counts %v, want %v", f.Counts, want)
	}
	if f.Mean != 50.5 || f.Rows != 100 || f.Missing != 0 || f.Index != 3 || f.Kind != Numeric {
		t.Errorf("mean %v rows %d missing %d index %d kind %q", f.Mean, f.Rows, f.Missing, f.Index, f.Kind)
	}
}

func TestFlagAndConstantAndMissing(t *testing.T) {
	flag := NumericFeature("flag", 0, []float64{0, 1, 1, 1, math.NaN()}, 20)
	if !slices.Equal(flag.Edges, []float64{0, 1}) || !slices.Equal(flag.Counts, []int64{1, 3, 0}) || flag.Missing != 1 || flag.Mean != 0.75 {
		t.Errorf("flag: %+v", flag)
	}
	c := NumericFeature("c", 0, []float64{7, 7, 7}, 20)
	if !slices.Equal(c.Edges, []float64{7}) || !slices.Equal(c.Counts, []int64{3, 0}) {
		t.Errorf("constant: %+v", c)
	}
	empty := NumericFeature("e", 0, nil, 20)
	if len(empty.Edges) != 0 || !slices.Equal(empty.Counts, []int64{0}) {
		t.Errorf("empty: %+v", empty)
	}
	label := ClassFeature("label", 0, []float64{0, 1, 1, 2}, 2)
	if !slices.Equal(label.Counts, []int64{1, 2, 1}) || label.Kind != Class {
		t.Errorf("class: %+v", label)
	}
}

func TestPSIAndKS(t *testing.T) {
	ref := []int64{25, 25, 25, 25}
	if PSI(ref, []int64{50, 50, 50, 50}) != 0 || KS(ref, []int64{1, 1, 1, 1}) != 0 {
		t.Error("the same shares must be at distance 0")
	}
	shifted := []int64{50, 30, 15, 5}
	// PSI by hand: Σ (l−r) ln(l/r) with r = 0.25.
	want := 0.25*math.Log(0.5/0.25) + 0.05*math.Log(0.3/0.25) - 0.10*math.Log(0.15/0.25) - 0.20*math.Log(0.05/0.25)
	if got := PSI(ref, shifted); math.Abs(got-want) > 1e-12 {
		t.Errorf("PSI %v, want %v", got, want)
	}
	if got := KS(ref, shifted); math.Abs(got-0.30) > 1e-12 { // cumulative 0.25/0.5 vs 0.5/0.8: 0.30 at the second edge
		t.Errorf("KS %v, want 0.30", got)
	}
	if PSI(ref, []int64{0, 0, 0, 0}) != 0 || KS(nil, nil) != 0 || PSI(ref, []int64{1}) != 0 {
		t.Error("an empty or mismatched side is no evidence: 0")
	}
	if p := PSI([]int64{100, 0}, []int64{0, 100}); math.IsInf(p, 0) || p < 5 {
		t.Errorf("disjoint PSI %v: want large and finite", p)
	}
}

func TestFromCard(t *testing.T) {
	p := Profile{Input: "features", Rows: 3, Features: []Feature{NumericFeature("a", 0, []float64{1, 2, 3}, 2)},
		Outputs: []Feature{ClassFeature("label", 0, []float64{0, 1, 1}, 2)}}
	b, err := json.Marshal(map[string]any{"model": "m", "profile": p})
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromCard(b)
	if err != nil || got == nil || got.Features[0].Name != "a" || !slices.Equal(got.Outputs[0].Counts, []int64{1, 2, 0}) {
		t.Fatalf("FromCard = %+v, %v", got, err)
	}
	if got, err := FromCard([]byte(`{"model":"m"}`)); got != nil || err != nil {
		t.Errorf("a card without a profile: %v, %v", got, err)
	}
	for _, bad := range []string{
		`{"profile":{"input":"x","features":[{"name":"a","kind":"numeric","edges":[2,1],"counts":[0,0,0]}]}}`,
		`{"profile":{"input":"x","features":[{"name":"a","kind":"numeric","edges":[1],"counts":[0]}]}}`,
		`{"profile":{"input":"x","features":[{"name":"a","kind":"odd","edges":[],"counts":[0]}]}}`,
		`{"profile":{"input":"x","features":[{"name":"a","kind":"numeric","edges":[],"counts":[0]},{"name":"b","kind":"numeric","edges":[],"counts":[0]}]}}`,
		`{"profile":[1]}`,
	} {
		if _, err := FromCard([]byte(bad)); err == nil {
			t.Errorf("FromCard(%s) accepted", bad)
		}
	}
}

func FuzzFromCard(f *testing.F) {
	f.Add([]byte(`{"profile":{"input":"x","features":[{"name":"a","kind":"numeric","edges":[1,2],"counts":[1,2,3]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := FromCard(b)
		if err != nil || p == nil {
			return
		}
		for i := range p.Features { // whatever passed Check bins any value in range
			if bin, ok := p.Features[i].Bin(1e300); ok && (bin < 0 || bin >= len(p.Features[i].Counts)) {
				t.Fatalf("bin %d outside %d counts", bin, len(p.Features[i].Counts))
			}
		}
	})
}
