package evaluate

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/train"
	"github.com/sluice-serving/sluice/profile"
)

func sum(c []int64) int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// The training profile holds every feature over the train split and both
// outputs over the validation split, binned as the gateway bins FP32
// values, and equal inputs give equal bytes.
func TestTrainingProfile(t *testing.T) {
	var b bytes.Buffer
	if err := data.Generate(&b, 1500, 3); err != nil {
		t.Fatal(err)
	}
	tr, val, _, _, err := data.Prep(&b, data.DefaultPrepOptions())
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.DefaultConfig()
	cfg.Kind = "logreg"
	m, _, err := train.Train(tr, val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := TrainingProfile(m, tr, val, profile.DefaultBins)
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	if p.Input != "features" || p.Rows != int64(tr.Len()) || len(p.Features) != len(data.Features) {
		t.Fatalf("input %q, %d rows, %d features; want features, %d rows, %d features", p.Input, p.Rows, len(p.Features), tr.Len(), len(data.Features))
	}
	for j, f := range p.Features {
		if f.Name != data.Features[j] || f.Index != j || f.Kind != profile.Numeric || len(f.Edges) > profile.DefaultBins || sum(f.Counts) != int64(tr.Len()) {
			t.Errorf("feature %d: %s index %d kind %s, %d edges, %d counted; want %s, %d, numeric, ≤ %d edges, %d counted",
				j, f.Name, f.Index, f.Kind, len(f.Edges), sum(f.Counts), data.Features[j], j, profile.DefaultBins, tr.Len())
		}
		// The server bins the FP32 value it was sent: the same rows must
		// land in the same bins.
		live := make([]int64, len(f.Counts))
		for _, x := range tr.X {
			bin, _ := f.Bin(float64(float32(x[j])))
			live[bin]++
		}
		if !slices.Equal(live, f.Counts) {
			t.Errorf("%s: the training rows sent as FP32 bin to %v, the profile holds %v", f.Name, live, f.Counts)
		}
	}
	if len(p.Outputs) != 2 {
		t.Fatalf("%d outputs, want probability and label", len(p.Outputs))
	}
	prob, label := p.Outputs[0], p.Outputs[1]
	if prob.Name != "probability" || prob.Kind != profile.Score || !slices.Equal(prob.Edges, probabilityEdges) || sum(prob.Counts) != int64(val.Len()) {
		t.Errorf("probability output %+v, want score over tenths counting %d rows", prob, val.Len())
	}
	positives := int64(0)
	for _, x := range val.X {
		positives += m.Label(x)
	}
	if label.Name != "label" || label.Kind != profile.Class || sum(label.Counts) != int64(val.Len()) || label.Counts[1] < positives-2 || label.Counts[1] > positives+2 || label.Counts[2] != 0 {
		t.Errorf("label output %+v, want class counts of %d rows, about %d of them 1", label, val.Len(), positives)
	}
	if prob.Mean <= 0 || prob.Mean >= 1 {
		t.Errorf("probability mean %v, want within (0, 1)", prob.Mean)
	}
	first, _ := json.Marshal(Card{Profile: p})
	again, _ := json.Marshal(Card{Profile: TrainingProfile(m, tr, val, profile.DefaultBins)})
	if !bytes.Equal(first, again) {
		t.Error("two profiles of the same model and data marshal differently")
	}
	back, err := profile.FromCard(first)
	if err != nil || back == nil || len(back.Features) != len(data.Features) {
		t.Errorf("the card's profile read back: %v, %v", back, err)
	}
	if few := TrainingProfile(m, tr, val, 4); len(few.Features[0].Edges) > 4 {
		t.Errorf("4 bins gave %d edges", len(few.Features[0].Edges))
	}
}
