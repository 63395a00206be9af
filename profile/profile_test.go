package profile

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
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

// TestInfinityIsMissing: an infinity is missing in training as it is
// live (Bin is shared): outside every bin and the mean, and the card
// still encodes.
func TestInfinityIsMissing(t *testing.T) {
	f := FixedFeature("x", 0, Numeric, []float64{1, math.Inf(1), 2, math.Inf(-1), math.NaN()}, []float64{1.5})
	if !slices.Equal(f.Counts, []int64{1, 1}) || f.Missing != 3 || f.Rows != 5 || f.Mean != 1.5 {
		t.Errorf("fixed bins over infinities: %+v, want 1 and 2 counted, 3 missing, mean 1.5", f)
	}
	n := NumericFeature("n", 0, []float64{1, 2, math.Inf(1), 3, math.Inf(-1)}, 3)
	if !slices.Equal(n.Edges, []float64{1, 2, 3}) || n.Missing != 2 || n.Mean != 2 {
		t.Errorf("quantile bins over infinities: %+v, want edges 1 2 3, 2 missing, mean 2", n)
	}
	for _, x := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		if b, ok := n.Bin(x); ok {
			t.Errorf("Bin(%v) = %d, want missing", x, b)
		}
	}
	if _, err := json.Marshal(Profile{Input: "in", Features: []Feature{f, n}}); err != nil {
		t.Errorf("a profile of columns with infinities does not encode: %v", err)
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

// TestCheck: what a card's profile must not hold, each refused with an
// error naming the feature and what was expected.
func TestCheck(t *testing.T) {
	feat := func(name string, index int) Feature {
		return FixedFeature(name, index, Numeric, []float64{1}, []float64{0.5})
	}
	out := func(name string, index int) Feature {
		return FixedFeature(name, index, Score, []float64{0.2}, []float64{0.5})
	}
	many := func(n int, mk func(int) Feature) []Feature {
		fs := make([]Feature, n)
		for i := range fs {
			fs[i] = mk(i)
		}
		return fs
	}
	tests := []struct {
		name string
		p    Profile
		want string // "" when the profile is fine
	}{
		{"fine", Profile{Input: "x", Features: []Feature{feat("a", 0), feat("b", 1)}, Outputs: []Feature{out("p", 0), out("p", 1), out("q", 0)}}, ""},
		{"the most features and outputs", Profile{Input: "x", Features: many(maxFeatures, func(i int) Feature { return feat(strconv.Itoa(i), i) }),
			Outputs: many(maxOutputs, func(i int) Feature { return out("p", i) })}, ""},
		{"duplicate feature name", Profile{Input: "x", Features: []Feature{feat("a", 0), feat("a", 1)}}, `name "a" is taken by an earlier feature, expected unique names`},
		{"duplicate feature index", Profile{Input: "x", Features: []Feature{feat("a", 0), feat("b", 0)}}, `index 0 is taken by feature "a"`},
		{"duplicate output element", Profile{Outputs: []Feature{out("p", 1), out("p", 1)}}, `"p" at index 1 is profiled twice`},
		{"too many features", Profile{Input: "x", Features: many(maxFeatures+1, func(i int) Feature { return feat(strconv.Itoa(i), i) })}, "1025 features, expected at most 1024"},
		{"too many outputs", Profile{Outputs: many(maxOutputs+1, func(i int) Feature { return out("p", i) })}, "65 outputs, expected at most 64"},
		{"no input name", Profile{Features: []Feature{feat("a", 0)}}, "empty input name, expected the name of the input"},
		{"no feature name", Profile{Input: "x", Features: []Feature{feat("", 0)}}, "feature 0: name is empty, expected the feature's or output's name"},
		{"a negative count", Profile{Input: "x", Features: []Feature{{Name: "a", Kind: Numeric, Edges: []float64{1}, Counts: []int64{3, -1}}}},
			`"a": count -1 of bin 1, expected 0 or more`},
		{"a negative missing count", Profile{Input: "x", Features: []Feature{{Name: "a", Kind: Numeric, Counts: []int64{1}, Missing: -2}}},
			`"a": missing count -2, expected 0 or more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v, want it accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check: %v, want an error saying %q", err, tt.want)
			}
		})
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
