package train

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/model"
)

// trainStream is the PCG stream of training, apart from other users of a seed.
const trainStream = 0x7a11

// minImprovement is how much lower a validation loss must be to count as
// better, so a plateau of tiny wiggles runs out the patience.
const minImprovement = 1e-5

// History is the loss after each epoch (mean cross-entropy, without L2).
type History struct {
	Epochs    int       `json:"epochs"`     // epochs run
	BestEpoch int       `json:"best_epoch"` // 1-based epoch whose weights the model has
	TrainLoss []float64 `json:"train_loss"`
	ValLoss   []float64 `json:"val_loss"`
}

// Train fits a model of cfg.Kind on tr, stopping when val's loss has not
// improved for cfg.Patience epochs, and returns the best weights seen.
func Train(tr, val data.Dataset, cfg Config) (*model.Model, History, error) {
	if err := cfg.Validate(); err != nil {
		return nil, History{}, err
	}
	if err := checkSplits(tr, val); err != nil {
		return nil, History{}, err
	}
	mean, std := fitScale(tr.X)
	xt, xv := scaled(tr.X, mean, std), scaled(val.X, mean, std)
	rng := rand.New(rand.NewPCG(cfg.Seed, trainStream))
	best, h := fit(newNet(cfg.sizes(len(data.Features)), rng), xt, tr.Y, xv, val.Y, cfg, rng)
	m := toModel(best, cfg.Kind, mean, std)
	return m, h, m.Validate()
}

// checkSplits names the split that cannot be trained on.
func checkSplits(tr, val data.Dataset) error {
	for _, s := range []struct {
		name string
		d    data.Dataset
	}{{"training", tr}, {"validation", val}} {
		if s.d.Len() == 0 || len(s.d.X) != s.d.Len() {
			return fmt.Errorf("%s split: %d rows and %d labels, expected equal and non-zero", s.name, len(s.d.X), s.d.Len())
		}
		for i, x := range s.d.X {
			if len(x) != len(data.Features) {
				return fmt.Errorf("%s split row %d: %d features, expected %d", s.name, i+1, len(x), len(data.Features))
			}
		}
	}
	return nil
}

// fitScale is each feature's mean and standard deviation; a constant
// feature gets 1 so normalising leaves it at 0 instead of dividing by 0.
func fitScale(x [][]float64) (mean, std []float64) {
	col := make([]float64, len(x))
	for j := range x[0] {
		for i, r := range x {
			col[i] = r[j]
		}
		m, s := stat.MeanStdDev(col, nil)
		if !(s > 0) {
			s = 1
		}
		mean, std = append(mean, m), append(std, s)
	}
	return mean, std
}

// scaled is x normalised, as a matrix.
func scaled(x [][]float64, mean, std []float64) *mat.Dense {
	d := mat.NewDense(len(x), len(mean), nil)
	for i, r := range x {
		for j, v := range r {
			d.Set(i, j, (v-mean[j])/std[j])
		}
	}
	return d
}

// fit runs epochs of shuffled mini-batches and keeps the net with the best
// validation loss.
func fit(n *net, xt *mat.Dense, yt []float64, xv *mat.Dense, yv []float64, cfg Config, rng *rand.Rand) (*net, History) {
	opt := newAdam(n, cfg.LearningRate)
	best, bestLoss := n.clone(), evalLoss(n, xv, yv)
	var h History
	for epoch := 1; epoch <= cfg.MaxEpochs; epoch++ {
		runEpoch(n, opt, xt, yt, cfg, rng)
		tl, vl := evalLoss(n, xt, yt), evalLoss(n, xv, yv)
		h.Epochs, h.TrainLoss, h.ValLoss = epoch, append(h.TrainLoss, tl), append(h.ValLoss, vl)
		if vl < bestLoss-minImprovement {
			best, bestLoss, h.BestEpoch = n.clone(), vl, epoch
		} else if epoch-h.BestEpoch >= cfg.Patience {
			break
		}
	}
	return best, h
}

// runEpoch takes one Adam step per mini-batch of a fresh permutation.
func runEpoch(n *net, opt *adam, x *mat.Dense, y []float64, cfg Config, rng *rand.Rand) {
	perm := rng.Perm(len(y))
	for start := 0; start < len(perm); start += cfg.BatchSize {
		xb, yb := gather(x, y, perm[start:min(start+cfg.BatchSize, len(perm))])
		gW, gB := n.grads(xb, yb, cfg.L2)
		opt.update(n, gW, gB)
	}
}

// gather copies the rows idx of x and y into a batch.
func gather(x *mat.Dense, y []float64, idx []int) (*mat.Dense, []float64) {
	_, c := x.Dims()
	xb := mat.NewDense(len(idx), c, nil)
	yb := make([]float64, len(idx))
	for k, i := range idx {
		xb.SetRow(k, x.RawRowView(i))
		yb[k] = y[i]
	}
	return xb, yb
}

// evalLoss is the mean cross-entropy over all rows, in chunks of maxBatch
// rows so each multiply stays serial.
func evalLoss(n *net, x *mat.Dense, y []float64) float64 {
	s := 0.0
	for start := 0; start < len(y); start += maxBatch {
		end := min(start+maxBatch, len(y))
		chunk := x.Slice(start, end, 0, x.RawMatrix().Cols).(*mat.Dense)
		acts := n.forward(chunk)
		s += loss(acts[len(acts)-1], y[start:end]) * float64(end-start)
	}
	return s / float64(len(y))
}

// toModel copies n's weights into the shared model type.
func toModel(n *net, kind string, mean, std []float64) *model.Model {
	m := &model.Model{Kind: kind, Features: append([]string(nil), data.Features...),
		Mean: mean, Std: std, Threshold: 0.5}
	for l, w := range n.W {
		in, out := w.Dims()
		m.Layers = append(m.Layers, model.Layer{In: in, Out: out,
			W: append([]float64(nil), w.RawMatrix().Data...), B: append([]float64(nil), n.B[l]...)})
	}
	return m
}
