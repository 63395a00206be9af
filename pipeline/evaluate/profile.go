package evaluate

import (
	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/model"
	"github.com/sluice-serving/sluice/profile"
)

// probabilityEdges bin the probability output in tenths: fixed rather than
// quantiles, so that a version whose scores all moved shows it plainly.
var probabilityEdges = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}

// TrainingProfile is the reference a served version's live calls are
// compared with: every input feature over train, at bins quantile bins
// each, and the outputs of m over val.
//
// Everything is binned as the gateway sees it. Features are raw values in
// data.Features order (the exported graph normalises inside), rounded to
// FP32 first: the live values arrive in an FP32 tensor, and a ratio such as
// 0.8 is 0.800000011920929 there, above an FP64 edge of 0.8, so a profile
// of the FP64 values would move every such value to the next bin. The
// probability is m's on those rounded rows, rounded to FP32 as the graph
// answers it; the label is 0 or 1.
func TrainingProfile(m *model.Model, train, val data.Dataset, bins int) *profile.Profile {
	in, out := StudentSignature()
	p := &profile.Profile{Input: in[0].Name, Rows: int64(train.Len())}
	col := make([]float64, train.Len())
	for j, name := range data.Features {
		for i, x := range train.X {
			col[i] = fp32(x[j])
		}
		p.Features = append(p.Features, profile.NumericFeature(name, j, col, bins))
	}
	prob, label := make([]float64, val.Len()), make([]float64, val.Len())
	row := make([]float64, len(data.Features))
	for i, x := range val.X {
		for j := range row {
			row[j] = fp32(x[j])
		}
		prob[i], label[i] = fp32(m.Probability(row)), float64(m.Label(row))
	}
	p.Outputs = []profile.Feature{
		profile.FixedFeature(out[0].Name, 0, profile.Score, prob, probabilityEdges),
		profile.ClassFeature(out[1].Name, 0, label, 2),
	}
	return p
}

// fp32 is v as an FP32 tensor carries it.
func fp32(v float64) float64 { return float64(float32(v)) }
