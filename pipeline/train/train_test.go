package train

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/model"
)

// splits prepares n generated records.
func splits(t *testing.T, n int, seed uint64) (tr, val, test data.Dataset) {
	t.Helper()
	var b bytes.Buffer
	if err := data.Generate(&b, n, seed); err != nil {
		t.Fatal(err)
	}
	tr, val, test, _, err := data.Prep(&b, data.DefaultPrepOptions())
	if err != nil {
		t.Fatal(err)
	}
	return tr, val, test
}

func config(kind string) Config {
	c := DefaultConfig()
	c.Kind = kind
	return c
}

// auc counts positive–negative pairs ranked right, ties half; kept separate
// from the evaluate package so train's tests stand alone.
func auc(m *model.Model, d data.Dataset) float64 {
	var right, pairs float64
	for i := range d.Y {
		for j := range d.Y {
			if d.Y[i] == 1 && d.Y[j] == 0 {
				pi, pj := m.Probability(d.X[i]), m.Probability(d.X[j])
				right += map[bool]float64{true: 1}[pi > pj] + map[bool]float64{true: 0.5}[pi == pj]
				pairs++
			}
		}
	}
	return right / pairs
}

func TestTrainLearnsAndIsDeterministic(t *testing.T) {
	tr, val, test := splits(t, 3000, 11)
	for _, kind := range []string{model.LogReg, model.MLP} {
		t.Run(kind, func(t *testing.T) {
			m1, h, err := Train(tr, val, config(kind))
			if err != nil {
				t.Fatal(err)
			}
			m2, _, err := Train(tr, val, config(kind))
			if err != nil {
				t.Fatal(err)
			}
			for l := range m1.Layers {
				if !slices.Equal(m1.Layers[l].W, m2.Layers[l].W) || !slices.Equal(m1.Layers[l].B, m2.Layers[l].B) {
					t.Errorf("layer %d differs between two runs with seed 1", l)
				}
			}
			if a := auc(m1, test); a < 0.8 {
				t.Errorf("test AUC %.3f, want ≥ 0.8", a)
			}
			if h.BestEpoch < 1 || h.BestEpoch > h.Epochs || len(h.ValLoss) != h.Epochs {
				t.Errorf("history %+v inconsistent", h)
			}
			if h.ValLoss[h.BestEpoch-1] != slices.Min(h.ValLoss) {
				t.Errorf("best epoch %d has val loss %v, the minimum is %v", h.BestEpoch, h.ValLoss[h.BestEpoch-1], slices.Min(h.ValLoss))
			}
		})
	}
}

func TestTrainSeedMatters(t *testing.T) {
	tr, val, _ := splits(t, 400, 12)
	c := config(model.MLP)
	c.MaxEpochs = 3
	a, _, _ := Train(tr, val, c)
	c.Seed = 2
	b, _, _ := Train(tr, val, c)
	if slices.Equal(a.Layers[0].W, b.Layers[0].W) {
		t.Error("seeds 1 and 2 gave equal weights")
	}
}

// TestEarlyStopping overfits a wide network to noise labels: validation
// loss cannot improve for long, so training must stop well before the cap
// and keep the best epoch's weights.
func TestEarlyStopping(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	noise := func(n int) data.Dataset {
		var d data.Dataset
		for range n {
			x := make([]float64, len(data.Features))
			for j := range x {
				x[j] = rng.NormFloat64()
			}
			d.X, d.Y = append(d.X, x), append(d.Y, float64(rng.IntN(2)))
		}
		return d
	}
	c := config(model.MLP)
	c.Hidden, c.LearningRate, c.MaxEpochs, c.Patience, c.L2 = []int{64}, 0.01, 500, 5, 0
	m, h, err := Train(noise(200), noise(200), c)
	if err != nil {
		t.Fatal(err)
	}
	if h.Epochs >= c.MaxEpochs || h.Epochs != h.BestEpoch+c.Patience {
		t.Errorf("ran %d epochs, best %d; want a stop %d epochs after the best, before %d", h.Epochs, h.BestEpoch, c.Patience, c.MaxEpochs)
	}
	if last := h.TrainLoss[h.Epochs-1]; last >= h.TrainLoss[0] {
		t.Errorf("train loss %v → %v, want it falling while validation stalls", h.TrainLoss[0], last)
	}
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		key  string
	}{
		{"kind", func(c *Config) { c.Kind = "svm" }, "train.kind"},
		{"mlp without hidden", func(c *Config) { c.Hidden = nil }, "train.hidden"},
		{"hidden width", func(c *Config) { c.Hidden = []int{16, 0} }, "train.hidden[1]"},
		{"learning rate", func(c *Config) { c.LearningRate = 0 }, "train.learning_rate"},
		{"epochs", func(c *Config) { c.MaxEpochs = 0 }, "train.max_epochs"},
		{"patience", func(c *Config) { c.Patience = 0 }, "train.patience"},
		{"batch", func(c *Config) { c.BatchSize = 1000 }, "train.batch_size"},
		{"l2", func(c *Config) { c.L2 = -1 }, "train.l2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tt.key+":") {
				t.Errorf("err %v, want one naming %s", err, tt.key)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
	c := DefaultConfig()
	c.Kind, c.Hidden = model.LogReg, nil
	if err := c.Validate(); err != nil {
		t.Errorf("logreg without hidden: %v", err)
	}
}

func TestTrainRejectsBadSplits(t *testing.T) {
	tr, val, _ := splits(t, 100, 13)
	short := data.Dataset{X: [][]float64{{1, 2}}, Y: []float64{1}}
	for name, c := range map[string][2]data.Dataset{"empty validation": {tr, {}}, "short rows": {short, val}} {
		if _, _, err := Train(c[0], c[1], DefaultConfig()); err == nil {
			t.Errorf("%s: trained, want an error", name)
		}
	}
}
