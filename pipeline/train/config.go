package train

import (
	"fmt"
	"math"

	"github.com/sluice-serving/sluice/pipeline/model"
)

// Bounds that keep every gonum multiply serial (it goes parallel from 4
// blocks of 64×64 in the output), so no goroutine touches the math.
const (
	maxBatch  = 128
	maxHidden = 64
)

// Config says what to train and how.
type Config struct {
	Kind         string  `json:"kind" koanf:"kind"`                   // model.LogReg or model.MLP
	Seed         uint64  `json:"seed" koanf:"seed"`                   // initial weights and batch order
	Hidden       []int   `json:"hidden" koanf:"hidden"`               // MLP hidden widths; ignored for logreg
	LearningRate float64 `json:"learning_rate" koanf:"learning_rate"` // Adam step size
	MaxEpochs    int     `json:"max_epochs" koanf:"max_epochs"`
	Patience     int     `json:"patience" koanf:"patience"` // epochs without a better validation loss before stopping
	BatchSize    int     `json:"batch_size" koanf:"batch_size"`
	L2           float64 `json:"l2" koanf:"l2"` // weight decay on W (not biases)
}

// DefaultConfig is a one-hidden-layer network of 16 units.
func DefaultConfig() Config {
	return Config{Kind: model.MLP, Seed: 1, Hidden: []int{16}, LearningRate: 0.01,
		MaxEpochs: 200, Patience: 10, BatchSize: 32, L2: 1e-4}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Kind != model.LogReg && c.Kind != model.MLP:
		return fmt.Errorf("train.kind: %q, expected %s or %s", c.Kind, model.LogReg, model.MLP)
	case c.Kind == model.MLP && len(c.Hidden) == 0:
		return fmt.Errorf("train.hidden: empty, expected at least one hidden width for %s", model.MLP)
	case !(c.LearningRate > 0 && c.LearningRate < math.Inf(1)):
		return fmt.Errorf("train.learning_rate: %v, expected a positive number", c.LearningRate)
	case c.MaxEpochs < 1:
		return fmt.Errorf("train.max_epochs: %d, expected at least 1", c.MaxEpochs)
	case c.Patience < 1:
		return fmt.Errorf("train.patience: %d, expected at least 1", c.Patience)
	case c.BatchSize < 1 || c.BatchSize > maxBatch:
		return fmt.Errorf("train.batch_size: %d, expected 1 to %d", c.BatchSize, maxBatch)
	case !(c.L2 >= 0 && c.L2 < math.Inf(1)):
		return fmt.Errorf("train.l2: %v, expected 0 or more", c.L2)
	}
	for i, h := range c.Hidden {
		if c.Kind == model.MLP && (h < 1 || h > maxHidden) {
			return fmt.Errorf("train.hidden[%d]: %d, expected 1 to %d", i, h, maxHidden)
		}
	}
	return nil
}

// sizes are the layer widths from input to the single logit.
func (c Config) sizes(in int) []int {
	s := []int{in}
	if c.Kind == model.MLP {
		s = append(s, c.Hidden...)
	}
	return append(s, 1)
}
