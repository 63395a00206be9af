package drift

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// fp32 is an FP32 tensor of the given shape holding vals.
func fp32(name string, shape []int64, vals ...float64) tensor.Tensor {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
	}
	return tensor.Tensor{Name: name, DataType: tensor.FP32, Shape: shape, Data: b}
}

// i64 is an INT64 tensor of the given shape holding vals.
func i64(name string, shape []int64, vals ...int64) tensor.Tensor {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return tensor.Tensor{Name: name, DataType: tensor.Int64, Shape: shape, Data: b}
}

// smallProfile profiles two of input x's three columns (0 and 2) over
// hand-set edges, and output y's class.
func smallProfile() *profile.Profile {
	return &profile.Profile{Input: "x", Rows: 4,
		Features: []profile.Feature{
			profile.FixedFeature("a", 0, profile.Numeric, []float64{0, 1, 1, 2}, []float64{0.5, 1.5}),
			profile.FixedFeature("c", 2, profile.Numeric, []float64{10, 20, 30, 40}, []float64{25}),
		},
		Outputs: []profile.Feature{profile.ClassFeature("y", 0, []float64{0, 1, 1, 0}, 2)},
	}
}

var smallSig = runtime.Signature{
	Inputs:  []runtime.IO{{Name: "w", DataType: tensor.FP32, Dims: []int64{-1, 1}}, {Name: "x", DataType: tensor.FP32, Dims: []int64{-1, 3}}},
	Outputs: []runtime.IO{{Name: "z", DataType: tensor.FP32, Dims: []int64{-1, 1}}, {Name: "y", DataType: tensor.Int64, Dims: []int64{-1, 1}}},
	Batched: true,
}

func smallSpec(mut func(*Spec)) Spec {
	s := DefaultSpec()
	s.Window, s.Slots = registry.Duration(2*time.Second), 2
	if mut != nil {
		mut(&s)
	}
	return s
}

var t0 = time.Date(2025, 6, 10, 6, 0, 0, 0, time.UTC)

func newSmallLive(t testing.TB, spec Spec) *Live {
	t.Helper()
	l, err := NewLive(smallProfile(), smallSig, spec, t0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// smallCall is one call of rows rows: input x's columns are (a, b, c),
// output y the class.
func smallCall(rows [][3]float64, classes []int64) (in, out []tensor.Tensor) {
	var xs []float64
	for _, r := range rows {
		xs = append(xs, r[0], r[1], r[2])
	}
	n := int64(len(rows))
	in = []tensor.Tensor{fp32("w", []int64{n, 1}, make([]float64, n)...), fp32("x", []int64{n, 3}, xs...)}
	out = []tensor.Tensor{fp32("z", []int64{n, 1}, make([]float64, n)...), i64("y", []int64{n, 1}, classes...)}
	return in, out
}

func TestLiveBinsTheProfiledColumns(t *testing.T) {
	l := newSmallLive(t, smallSpec(nil))
	in, out := smallCall([][3]float64{{0.2, 99, 30}, {1, 99, 10}, {math.NaN(), 99, math.Inf(1)}, {7, 99, 26}}, []int64{1, 1, 0, 5})
	l.Sample(in, out)
	l.rotate(t0.Add(time.Second))
	w := l.window()
	// a: bins (-inf,0.5] (0.5,1.5] (1.5,inf) then missing; c: (-inf,25] (25,inf)
	// then missing; y: 0, 1, other, then missing.
	want := []int64{1, 1, 1, 1, 1, 2, 1, 1, 2, 1, 0}
	if w.Rows != 4 || !slices.Equal(w.Counts, want) {
		t.Errorf("window rows %d counts %v, want 4 rows and %v", w.Rows, w.Counts, want)
	}
	if sums := []float64{0.2 + 1 + 7, 30 + 10 + 26, 1 + 1 + 0 + 5}; !near(w.Sums, sums) {
		t.Errorf("sums %v, want %v (NaN and infinity left out)", w.Sums, sums)
	}
	if w.Profile != profileHash(smallProfile()) || w.Slot != t0.Add(time.Second).Unix() {
		t.Errorf("window of profile %q ending at %d, want %q and %d", w.Profile, w.Slot, profileHash(smallProfile()), t0.Add(time.Second).Unix())
	}
	ms := measure(l, w)
	if ms[0].name != "a" || ms[2].name != "y" || !ms[2].class || math.Abs(ms[0].missing-0.25) > 1e-9 || math.Abs(ms[0].mean-8.2/3) > 1e-6 {
		t.Errorf("measurements %+v", ms)
	}
	if l.Sampled() != 4 || l.calls.Load() != 0 {
		t.Errorf("sampled %d rows, want 4; %d calls counted, want none at a sample rate of 1", l.Sampled(), l.calls.Load())
	}
}

// TestLiveCountsOnlyRowsItRead: with no input features, a call whose
// output cannot be read adds no rows; inputs and outputs are counted over
// the same rows, the fewest any of them holds.
func TestLiveCountsOnlyRowsItRead(t *testing.T) {
	outputsOnly := &profile.Profile{Outputs: []profile.Feature{profile.ClassFeature("y", 1, []float64{0, 1}, 2)}}
	l, err := NewLive(outputsOnly, smallSig, smallSpec(nil), t0)
	if err != nil {
		t.Fatal(err)
	}
	in, out := smallCall([][3]float64{{1, 1, 1}, {2, 2, 2}}, []int64{1, 0})
	l.Sample(in, out)     // y's rows are one element wide: none at index 1
	l.Sample(in, out[:1]) // no y at all
	wide := i64("y", []int64{2, 2}, 0, 1, 1, 0)
	l.Sample(in, []tensor.Tensor{out[0], wide})
	l.rotate(t0.Add(time.Second))
	if w := l.window(); w.Rows != 2 || !slices.Equal(w.Counts, []int64{1, 1, 0, 0}) {
		t.Errorf("outputs alone: window %+v, want the one readable call's 2 rows", w)
	}

	l = newSmallLive(t, smallSpec(nil))
	in, out = smallCall([][3]float64{{0.2, 0, 30}, {1, 0, 10}, {2, 0, 26}}, []int64{1, 0, 1})
	out[1] = i64("y", []int64{2, 1}, 1, 0) // a row fewer than the input
	l.Sample(in, out)
	l.rotate(t0.Add(2 * time.Second))
	w := l.window()
	for _, f := range l.feats {
		var n int64
		for _, c := range w.Counts[f.at : f.at+len(f.Edges)+2] {
			n += c
		}
		if n != 2 {
			t.Errorf("%s counted over %d rows, want 2", f.Name, n)
		}
	}
	if w.Rows != 2 {
		t.Errorf("window rows %d, want 2", w.Rows)
	}
}

// TestMissingValuesDrift: a feature whose values all go missing drifts,
// though no bin of values changed share.
func TestMissingValuesDrift(t *testing.T) {
	l := newSmallLive(t, smallSpec(nil))
	nan := math.NaN()
	in, out := smallCall([][3]float64{{nan, 0, 10}, {nan, 0, 30}, {nan, 0, 10}, {nan, 0, 30}}, []int64{0, 1, 1, 0})
	l.Sample(in, out)
	l.rotate(t0.Add(time.Second))
	ms := measure(l, l.window())
	if ms[0].psi <= DefaultSpec().PSI.Drifting || ms[0].ks != 1 || ms[0].missing != 1 {
		t.Errorf("a feature all missing: PSI %v KS %v missing %v; want it drifting", ms[0].psi, ms[0].ks, ms[0].missing)
	}
	if ms[1].psi != 0 || ms[1].ks != 0 {
		t.Errorf("a feature as in training: PSI %v KS %v, want 0", ms[1].psi, ms[1].ks)
	}
}

func TestLiveWindowMovesWithTheClock(t *testing.T) {
	l := newSmallLive(t, smallSpec(nil)) // two slots of a second
	one := func() { in, out := smallCall([][3]float64{{1, 0, 1}}, []int64{1}); l.Sample(in, out) }
	steps := []struct {
		at   time.Duration // after t0
		add  int           // calls made after moving there
		rows int64         // the window's rows once moved, before the calls
	}{
		{0, 1, 0},                       // the open slot is not in the window
		{500 * time.Millisecond, 1, 0},  // same slot
		{time.Second, 3, 2},             // the first slot closed
		{2 * time.Second, 0, 5},         // two closed slots
		{3 * time.Second, 4, 3},         // the first fell out
		{3900 * time.Millisecond, 0, 3}, // same slot
		{4 * time.Second, 0, 4},
		{time.Minute, 1, 0}, // a long gap empties the ring
		{time.Minute + time.Second, 0, 1},
	}
	for _, s := range steps {
		l.rotate(t0.Add(s.at))
		if w := l.window(); w.Rows != s.rows || w.Slot != t0.Add(s.at).Truncate(time.Second).Unix() {
			t.Fatalf("at t0+%v: window of %d rows ending %d, want %d rows", s.at, w.Rows, w.Slot, s.rows)
		}
		for range s.add {
			one()
		}
	}
}

func TestLiveSamplesEveryNthCallAndCapsRows(t *testing.T) {
	l := newSmallLive(t, smallSpec(func(s *Spec) { s.SampleRate, s.MaxRowsPerCall = 0.25, 3 }))
	rows := make([][3]float64, 5)
	in, out := smallCall(rows, make([]int64, 5))
	for range 10 {
		l.Sample(in, out)
	}
	l.rotate(t0.Add(time.Second))
	if w := l.window(); w.Rows != 2*3 || w.Counts[0] != 6 || w.Counts[7] != 6 {
		t.Errorf("10 calls of 5 rows at a rate of 1/4, 3 rows a call: window %+v, want 2 calls of 3 rows", w)
	}
}

func TestLiveSkipsACallItCannotRead(t *testing.T) {
	l := newSmallLive(t, smallSpec(nil))
	in, out := smallCall([][3]float64{{1, 1, 1}}, []int64{1})
	in[1] = fp32("x", []int64{1, 2}, 1, 1) // narrower than the profile's column 2
	l.Sample(in, out)
	l.Sample(in[:1], out) // no x at all
	l.rotate(t0.Add(time.Second))
	if w := l.window(); w.Rows != 0 {
		t.Errorf("unreadable calls counted: %+v", w)
	}
}

func TestLiveRefusesAProfileThatDoesNotFit(t *testing.T) {
	tests := []struct {
		name string
		edit func(*profile.Profile, *runtime.Signature)
		want string
	}{
		{"input missing", func(p *profile.Profile, _ *runtime.Signature) { p.Input = "features" }, `input "features" is not among the model's inputs, expected one of [w x]`},
		{"string input", func(_ *profile.Profile, s *runtime.Signature) { s.Inputs[1].DataType = tensor.Bytes }, "numeric"},
		{"too narrow", func(_ *profile.Profile, s *runtime.Signature) { s.Inputs[1].Dims = []int64{-1, 2} }, "last dimension of at least 3"},
		{"output missing", func(p *profile.Profile, _ *runtime.Signature) { p.Outputs[0].Name = "label" }, `output "label" is not among the model's outputs, expected one of [z y]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, sig := smallProfile(), smallSig
			sig.Inputs = append([]runtime.IO(nil), smallSig.Inputs...)
			tt.edit(p, &sig)
			if _, err := NewLive(p, sig, smallSpec(nil), t0); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewLive: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// The request path's budget: sampling a call allocates nothing.
func TestSampleAllocs(t *testing.T) {
	l := newSmallLive(t, smallSpec(nil))
	in, out := smallCall([][3]float64{{0.2, 0, 30}, {1, 0, 10}, {2, 0, 26}}, []int64{1, 0, 1})
	if n := testing.AllocsPerRun(1000, func() { l.Sample(in, out) }); n != 0 {
		t.Errorf("Sample allocates %.1f times a call, want 0", n)
	}
}

// BenchmarkSample is one call of 16 rows of the student model's eight
// features and two outputs, serial and from every core at once.
func BenchmarkSample(b *testing.B) {
	p, sig := studentProfile(b)
	l, err := NewLive(p, sig, DefaultSpec(), t0)
	if err != nil {
		b.Fatal(err)
	}
	in, out := studentCall(newRand(1), 16, 0)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Sample(in, out)
		}
		b.ReportMetric(float64(16*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Sample(in, out)
			}
		})
		b.ReportMetric(float64(16*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-4*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}
