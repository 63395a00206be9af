package evaluate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/tensor"
)

// ErrGate is the class of every refusal CheckGate gives.
var ErrGate = errors.New("quality gate")

// IO is one input or output of the served graph.
type IO struct {
	Name     string  `json:"name"`
	DataType string  `json:"datatype"` // v2 protocol name, e.g. FP32
	Shape    []int64 `json:"shape"`    // -1 for the batch dimension
}

// Card is a model version's record, written as model_card.json beside it.
type Card struct {
	Model         string  `json:"model"`
	Version       int64   `json:"version"`
	Parent        int64   `json:"parent"` // the stable version it was gated against; 0 for none
	Kind          string  `json:"kind"`
	CodeVersion   string  `json:"code_version"`
	DataHash      string  `json:"data_hash"`
	Params        any     `json:"params"`
	Metrics       Metrics `json:"metrics"`    // on the test split
	Validation    Metrics `json:"validation"` // on the validation split
	Inputs        []IO    `json:"inputs"`
	Outputs       []IO    `json:"outputs"`
	ExportMaxDiff float64 `json:"export_max_diff"`   // largest |ONNX − Go| probability over the test split
	Created       string  `json:"created,omitempty"` // left empty so equal runs give equal cards
	// Profile is the training data's and the outputs' distribution, which
	// the gateway compares live calls with; absent from older cards.
	Profile *profile.Profile `json:"profile,omitempty"`
}

// Gate is what a candidate must reach to be published.
type Gate struct {
	MinAUC     float64 `json:"min_auc" koanf:"min_auc"`           // test AUC floor
	MaxAUCDrop float64 `json:"max_auc_drop" koanf:"max_auc_drop"` // how far below the stable AUC a candidate may be
}

// StudentSignature is what the export writes for the student-success model:
// a batch of Features in, one probability and one 0/1 label per row out.
func StudentSignature() (inputs, outputs []IO) {
	in := []IO{{Name: "features", DataType: tensor.FP32.String(), Shape: []int64{-1, int64(len(data.Features))}}}
	out := []IO{
		{Name: "probability", DataType: tensor.FP32.String(), Shape: []int64{-1, 1}},
		{Name: "label", DataType: tensor.Int64.String(), Shape: []int64{-1, 1}},
	}
	return in, out
}

// CheckGate refuses, with an error wrapping ErrGate, a candidate whose test
// AUC is under the floor or more than MaxAUCDrop under the stable card's,
// or whose inputs or outputs differ from the stable card's (clients of the
// stable version would break). stable is nil when nothing is published.
func CheckGate(candidate Card, stable *Card, g Gate) error {
	auc := candidate.Metrics.AUC
	if auc < g.MinAUC {
		return fmt.Errorf("%w: candidate AUC %.4f is below the floor %.4f", ErrGate, auc, g.MinAUC)
	}
	if stable == nil {
		return nil
	}
	if floor := stable.Metrics.AUC - g.MaxAUCDrop; auc < floor {
		return fmt.Errorf("%w: candidate AUC %.4f is below stable version %d's %.4f less the allowed drop %.4f",
			ErrGate, auc, stable.Version, stable.Metrics.AUC, g.MaxAUCDrop)
	}
	if !sameIO(candidate.Inputs, stable.Inputs) || !sameIO(candidate.Outputs, stable.Outputs) {
		return fmt.Errorf("%w: candidate signature inputs %v outputs %v differ from stable version %d's inputs %v outputs %v",
			ErrGate, candidate.Inputs, candidate.Outputs, stable.Version, stable.Inputs, stable.Outputs)
	}
	return nil
}

// sameIO compares signatures in order, names, types and shapes.
func sameIO(a, b []IO) bool {
	return slices.EqualFunc(a, b, func(x, y IO) bool {
		return x.Name == y.Name && x.DataType == y.DataType && slices.Equal(x.Shape, y.Shape)
	})
}
