package drift

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// The student model's signature (models/student-success): eight features
// in, P(success) and the 0/1 label out.
var studentSig = runtime.Signature{
	Inputs:  []runtime.IO{{Name: "features", DataType: tensor.FP32, Dims: []int64{-1, 8}}},
	Outputs: []runtime.IO{{Name: "probability", DataType: tensor.FP32, Dims: []int64{-1, 1}}, {Name: "label", DataType: tensor.Int64, Dims: []int64{-1, 1}}},
	Batched: true,
}

var studentNames = []string{"admission_grade", "previous_grade", "sem1_approved_ratio", "sem1_grade",
	"sem2_approved_ratio", "sem2_grade", "tuition_up_to_date", "scholarship_holder"}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 17)) }

// studentRow draws one row: features uniform in [0,1) plus shift, and the
// outputs a stand-in model gives it (the features' mean, over 0.5).
func studentRow(r *rand.Rand, shift float64) (x []float64, prob float64, label int64) {
	x = make([]float64, 8)
	var sum float64
	for i := range x {
		x[i] = r.Float64() + shift
		sum += x[i]
	}
	prob = min(max(sum/8, 0), 1)
	if prob > 0.5 {
		label = 1
	}
	return x, prob, label
}

// studentProfile is the training profile of 5,000 rows studentRow draws.
func studentProfile(tb testing.TB) (*profile.Profile, runtime.Signature) {
	tb.Helper()
	r := newRand(7)
	cols := make([][]float64, 8)
	var probs, labels []float64
	for range 5000 {
		x, p, l := studentRow(r, 0)
		for i := range x {
			cols[i] = append(cols[i], x[i])
		}
		probs, labels = append(probs, p), append(labels, float64(l))
	}
	p := &profile.Profile{Input: "features", Rows: 5000}
	for i, c := range cols {
		p.Features = append(p.Features, profile.NumericFeature(studentNames[i], i, c, profile.DefaultBins))
	}
	p.Outputs = []profile.Feature{
		profile.FixedFeature("probability", 0, profile.Score, probs, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}),
		profile.ClassFeature("label", 0, labels, 2),
	}
	if err := p.Check(); err != nil {
		tb.Fatal(err)
	}
	return p, studentSig
}

// studentCall is one call of rows rows drawn with shift, as the registry
// hands it to a sampler.
func studentCall(r *rand.Rand, rows int, shift float64) (in, out []tensor.Tensor) {
	var xs, ps []float64
	var ls []int64
	for range rows {
		x, p, l := studentRow(r, shift)
		xs, ps, ls = append(xs, x...), append(ps, p), append(ls, l)
	}
	n := int64(rows)
	return []tensor.Tensor{fp32("features", []int64{n, 8}, xs...)},
		[]tensor.Tensor{fp32("probability", []int64{n, 1}, ps...), i64("label", []int64{n, 1}, ls...)}
}

// checkMetrics compares series, named as the exposition writes them with
// their labels sorted, with what g gathers.
func checkMetrics(t *testing.T, g prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for name := range want {
		family, _, _ := strings.Cut(name, "{")
		maps.Copy(got, gather(t, g, family))
	}
	for name, w := range want {
		if v, ok := got[name]; !ok || math.Abs(v-w) > 1e-9 {
			t.Errorf("%s = %v (exported %v), want %v", name, v, ok, w)
		}
	}
}

// gather is every series of one metric family, by name and labels.
func gather(t *testing.T, g prometheus.Gatherer, family string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			slices.Sort(labels)
			out[family+"{"+strings.Join(labels, ",")+"}"] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return math.NaN()
}

// count is a trigger counter's value.
func count(t *testing.T, m *Monitor, model, outcome string) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.metrics.triggers.WithLabelValues(model, reasonDrifting, outcome).Write(&d); err != nil {
		t.Fatal(err)
	}
	return value(&d)
}

func ksOf(v VersionView, name string) float64 {
	for _, f := range v.Features {
		if f.Name == name {
			return f.KS
		}
	}
	return math.NaN()
}
