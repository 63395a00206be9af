package evaluate

import (
	"bytes"
	"testing"

	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/model"
	"github.com/sluice-serving/sluice/pipeline/train"
)

// TestGeneratedFullSize trains both kinds on a generated set the size of the
// published one (4424 rows, seed 1) and checks the test metrics the model
// card would carry; -v prints them.
func TestGeneratedFullSize(t *testing.T) {
	var b bytes.Buffer
	if err := data.Generate(&b, 4424, 1); err != nil {
		t.Fatal(err)
	}
	tr, val, test, _, err := data.Prep(&b, data.DefaultPrepOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{model.LogReg, model.MLP} {
		t.Run(kind, func(t *testing.T) {
			cfg := train.DefaultConfig()
			cfg.Kind = kind
			m, h, err := train.Train(tr, val, cfg)
			if err != nil {
				t.Fatal(err)
			}
			mt := Measure(m, test)
			t.Logf("%s: epochs %d (best %d), test %+v", kind, h.Epochs, h.BestEpoch, mt)
			if mt.AUC < 0.8 || mt.Accuracy < 0.75 || mt.CalibrationError > 0.1 {
				t.Errorf("test %+v, want AUC ≥ 0.8, accuracy ≥ 0.75, calibration error ≤ 0.1", mt)
			}
		})
	}
}
