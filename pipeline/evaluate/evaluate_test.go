package evaluate

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/model"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestAUC(t *testing.T) {
	tests := []struct {
		name string
		p, y []float64
		want float64
	}{
		{"ties count half", []float64{0.1, 0.4, 0.4, 0.8}, []float64{0, 0, 1, 1}, 3.5 / 4},
		{"all tied", []float64{0.5, 0.5, 0.5}, []float64{0, 1, 1}, 0.5},
		{"perfect", []float64{0.9, 0.1, 0.8}, []float64{1, 0, 1}, 1},
		{"reversed", []float64{0.1, 0.9}, []float64{1, 0}, 0},
		{"one class", []float64{0.1, 0.9}, []float64{1, 1}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AUC(tt.p, tt.y); !near(got, tt.want) {
				t.Errorf("AUC = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestECE(t *testing.T) {
	tests := []struct {
		name string
		p, y []float64
		want float64
	}{
		// bins 0, 1 and 9: |0−.05| + |1−.15| + |1−1.9| over 4 rows
		{"three bins", []float64{0.05, 0.15, 0.95, 0.95}, []float64{0, 1, 1, 0}, 1.8 / 4},
		{"p=1 in last bin", []float64{1, 1}, []float64{1, 1}, 0},
		{"calibrated bin", []float64{0.25, 0.25, 0.25, 0.25}, []float64{1, 0, 0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ECE(tt.p, tt.y); !near(got, tt.want) {
				t.Errorf("ECE = %v, want %v", got, tt.want)
			}
		})
	}
}

// identity is a logistic regression whose logit is the first feature.
func identity() *model.Model {
	n := len(data.Features)
	m := &model.Model{Kind: model.LogReg, Features: data.Features, Mean: make([]float64, n), Std: make([]float64, n),
		Layers: []model.Layer{{In: n, Out: 1, W: make([]float64, n), B: []float64{0}}}, Threshold: 0.5}
	for i := range m.Std {
		m.Std[i] = 1
	}
	m.Layers[0].W[0] = 1
	return m
}

func TestMeasure(t *testing.T) {
	d := data.Dataset{Y: []float64{0, 1, 0, 1}}
	for _, z := range []float64{-2, -1, 1, 2} {
		x := make([]float64, len(data.Features))
		x[0] = z
		d.X = append(d.X, x)
	}
	got := Measure(identity(), d)
	// logits −2, −1, 1, 2 against labels 0, 1, 0, 1
	wantLoss := (math.Log1p(math.Exp(-2)) + math.Log1p(math.E)) / 2
	if got.N != 4 || !near(got.AUC, 0.75) || !near(got.Accuracy, 0.5) || !near(got.LogLoss, wantLoss) {
		t.Errorf("Measure = %+v, want N 4, AUC 0.75, accuracy 0.5, log loss %v", got, wantLoss)
	}
	if empty := Measure(identity(), data.Dataset{}); empty != (Metrics{}) {
		t.Errorf("Measure(empty) = %+v, want zero", empty)
	}
}

func TestCheckGate(t *testing.T) {
	in, out := StudentSignature()
	card := func(v int64, auc float64) Card {
		return Card{Version: v, Metrics: Metrics{AUC: auc}, Inputs: in, Outputs: out}
	}
	stable := card(3, 0.85)
	wider := card(4, 0.9)
	wider.Inputs = []IO{{Name: "features", DataType: "FP32", Shape: []int64{-1, 9}}}
	tests := []struct {
		name      string
		candidate Card
		stable    *Card
		gate      Gate
		wants     []string // empty: passes
	}{
		{"first version passes", card(1, 0.75), nil, Gate{MinAUC: 0.7}, nil},
		{"below floor", card(1, 0.65), nil, Gate{MinAUC: 0.7}, []string{"0.6500", "floor 0.7000"}},
		{"worse than stable", card(4, 0.84), &stable, Gate{MinAUC: 0.7}, []string{"0.8400", "stable version 3's 0.8500"}},
		{"within allowed drop", card(4, 0.84), &stable, Gate{MinAUC: 0.7, MaxAUCDrop: 0.02}, nil},
		{"signature changed", wider, &stable, Gate{MinAUC: 0.7}, []string{"signature", "-1 9", "-1 8"}},
		{"better passes", card(4, 0.9), &stable, Gate{MinAUC: 0.7}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckGate(tt.candidate, tt.stable, tt.gate)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrGate) {
				t.Fatalf("err %v, want ErrGate", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestStudentSignature(t *testing.T) {
	in, out := StudentSignature()
	if len(in) != 1 || in[0].Name != "features" || in[0].DataType != "FP32" || in[0].Shape[1] != 8 {
		t.Errorf("inputs %+v, want features FP32 [-1,8]", in)
	}
	if len(out) != 2 || out[0].Name != "probability" || out[0].DataType != "FP32" || out[1].Name != "label" || out[1].DataType != "INT64" {
		t.Errorf("outputs %+v, want probability FP32 and label INT64", out)
	}
}
