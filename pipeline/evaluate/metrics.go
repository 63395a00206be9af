package evaluate

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"

	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/model"
)

// calibrationBins is the number of equal-width probability bins of the
// expected calibration error.
const calibrationBins = 10

// probClip keeps log loss finite when a model is certain and wrong.
const probClip = 1e-15

// Metrics is how well a model does on one split.
type Metrics struct {
	AUC              float64 `json:"auc"`
	Accuracy         float64 `json:"accuracy"`
	LogLoss          float64 `json:"log_loss"`
	CalibrationError float64 `json:"calibration_error"` // expected calibration error, 10 equal-width bins
	N                int     `json:"n"`
}

// Measure scores m on d. AUC is 0.5 when d holds one class only, as no
// ranking can be judged there.
func Measure(m *model.Model, d data.Dataset) Metrics {
	p := make([]float64, d.Len())
	correct := 0
	for i, x := range d.X {
		p[i] = m.Probability(x)
		if float64(m.Label(x)) == d.Y[i] {
			correct++
		}
	}
	mt := Metrics{N: d.Len()}
	if mt.N == 0 {
		return mt
	}
	mt.AUC, mt.LogLoss, mt.CalibrationError = AUC(p, d.Y), logLoss(p, d.Y), ECE(p, d.Y)
	mt.Accuracy = float64(correct) / float64(mt.N)
	return mt
}

// AUC is the Mann–Whitney rank statistic: the chance a random positive
// scores above a random negative, ties counting one half (average ranks).
func AUC(p, y []float64) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpFloat(p[a], p[b]) })
	rankSum, pos := 0.0, 0.0
	for start := 0; start < len(idx); {
		end := start
		for end < len(idx) && p[idx[end]] == p[idx[start]] {
			end++
		}
		avg := float64(start+end+1) / 2 // mean of 1-based ranks start+1 … end
		for _, i := range idx[start:end] {
			rankSum += avg * y[i]
			pos += y[i]
		}
		start = end
	}
	neg := float64(len(p)) - pos
	if pos == 0 || neg == 0 {
		return 0.5
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// logLoss is the mean cross-entropy of probabilities p.
func logLoss(p, y []float64) float64 {
	l := make([]float64, len(p))
	for i, pi := range p {
		pi = min(max(pi, probClip), 1-probClip)
		l[i] = -(y[i]*math.Log(pi) + (1-y[i])*math.Log(1-pi))
	}
	return floats.Sum(l) / float64(len(l))
}

// ECE is the expected calibration error: over equal-width bins of p, the
// row-weighted mean of |mean label − mean probability|. A probability of
// exactly 1 falls in the last bin.
func ECE(p, y []float64) float64 {
	var sumP, sumY, count [calibrationBins]float64
	for i, pi := range p {
		b := min(int(pi*calibrationBins), calibrationBins-1)
		sumP[b] += pi
		sumY[b] += y[i]
		count[b]++
	}
	e := 0.0
	for b := range count {
		e += math.Abs(sumY[b] - sumP[b]) // = count·|mean label − mean p|
	}
	return e / float64(len(p))
}
