//go:build imagetest

package imagetest

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/tensor"
)

// The student-success weights that scripts/gen_fixtures.py writes into
// models/student-success/{1,2}: probability = sigmoid(w·x + b), label =
// probability > 0.5.
var students = []struct {
	version string
	w       [8]float64
	b       float64
}{
	{"1", [8]float64{2.5, 1.8, 3.0, 1.2, 2.2, 0.6, -0.9, -2.0}, -4.5},
	{"2", [8]float64{2.1, 2.2, 2.7, 1.5, 1.9, 0.8, -1.2, -1.6}, -4.2},
}

// Two students: one likely to pass, one not.
var studentRows = [][8]float32{
	{0.9, 0.8, 0.95, 0.7, 0.85, 0.6, 0.1, 0.05},
	{0.1, 0.2, 0.15, 0.1, 0.3, 0.4, 0.9, 0.8},
}

func TestStudentSuccess(t *testing.T) {
	c := connect(t)
	var vals []float32
	for _, r := range studentRows {
		vals = append(vals, r[:]...)
	}
	in := fp32Tensor("features", []int64{2, 8}, vals)
	for _, s := range students {
		for _, enc := range encodings {
			t.Run("v"+s.version+"/"+enc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				r, err := c.Infer(ctx, "student-success", s.version, []tensor.Tensor{in}, enc.opt)
				if err != nil {
					t.Fatal(err)
				}
				if r.ModelName != "student-success" || r.ModelVersion != s.version {
					t.Errorf("answered by %s version %s, want student-success version %s", r.ModelName, r.ModelVersion, s.version)
				}
				p := fp32s(output(t, r, "probability", tensor.FP32, []int64{2, 1}).Data)
				label := int64s(output(t, r, "label", tensor.Int64, []int64{2, 1}).Data)
				for i, row := range studentRows {
					z := s.b
					for j, x := range row {
						z += s.w[j] * float64(x)
					}
					want := 1 / (1 + math.Exp(-z))
					if math.Abs(float64(p[i])-want) > 1e-5 {
						t.Errorf("student %d: probability %v, want %v", i, p[i], want)
					}
					wantLabel := int64(0)
					if want > 0.5 {
						wantLabel = 1
					}
					if label[i] != wantLabel {
						t.Errorf("student %d: label %d, want %d (probability %v)", i, label[i], wantLabel, want)
					}
				}
			})
		}
	}
}

// ppocrInput is two 3x48x192 crops: the pattern runtime/'s PP-OCR tests
// use, and the same crop turned by 180 degrees.
func ppocrInput() tensor.Tensor {
	const n = 3 * 48 * 192
	vals := make([]float32, 2*n)
	for ch := range 3 {
		for y := range 48 {
			for x := range 192 {
				i := ch*48*192 + y*192 + x
				v := float32(i%255)/255 - 0.5
				vals[i] = v
				vals[n+ch*48*192+(47-y)*192+(191-x)] = v
			}
		}
	}
	return fp32Tensor("x", []int64{2, 3, 48, 192}, vals)
}

// ppocrWant is what ONNX Runtime 1.30.0 answers for ppocrInput with the
// pinned PP-OCR classifier (probabilities of 0 and 180 degrees, per crop),
// measured with `sluice serve` outside a container; kernels differ a little
// between CPUs, hence the tolerance.
var ppocrWant = []float32{0.33930254, 0.66069746, 0.49902034, 0.50097966}

func TestPPOCR(t *testing.T) {
	c := connect(t)
	in := ppocrInput()
	var answers [][]float32
	for _, enc := range encodings {
		t.Run(enc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := c.Infer(ctx, "ppocr-cls", "", []tensor.Tensor{in}, enc.opt)
			if err != nil {
				t.Fatal(err)
			}
			p := fp32s(output(t, r, "softmax_0.tmp_0", tensor.FP32, []int64{2, 2}).Data)
			for row := range 2 {
				if s := p[2*row] + p[2*row+1]; math.Abs(float64(s)-1) > 1e-4 {
					t.Errorf("crop %d: probabilities %v sum to %v, want 1", row, p[2*row:2*row+2], s)
				}
			}
			for i := range p {
				if math.Abs(float64(p[i]-ppocrWant[i])) > 1e-4 {
					t.Errorf("probabilities %v, want %v within 1e-4", p, ppocrWant)
					break
				}
			}
			answers = append(answers, p)
		})
	}
	if len(answers) == 2 && !slices.Equal(answers[0], answers[1]) {
		t.Errorf("JSON answer %v differs from the binary one %v", answers[0], answers[1])
	}
}

func TestMetadata(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := c.ModelMetadata(ctx, "student-success", "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Versions, "1") || !slices.Contains(m.Versions, "2") {
		t.Errorf("student-success versions %v, want 1 and 2", m.Versions)
	}
	m, err = c.ModelMetadata(ctx, "ppocr-cls", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Inputs) != 1 || m.Inputs[0].Name != "x" || !slices.Equal(m.Inputs[0].Shape, []int64{-1, 3, 48, 192}) {
		t.Errorf("ppocr-cls inputs %+v, want x [-1 3 48 192]", m.Inputs)
	}
}
