package data

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed sample")

// sample is the committed sample Generate must reproduce.
var sample = filepath.Join("..", "..", "testdata", "pipeline", "students-sample.csv")

const sampleRows, sampleSeed = 200, 42

func TestGenerateReproducesSample(t *testing.T) {
	var b bytes.Buffer
	if err := Generate(&b, sampleRows, sampleSeed); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(sample, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(sample)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGenerateReproducesSample -update)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("Generate(%d, seed %d) differs from %s", sampleRows, sampleSeed, sample)
	}
}

func TestGenerateSeeds(t *testing.T) {
	gen := func(seed uint64) []byte {
		var b bytes.Buffer
		if err := Generate(&b, 50, seed); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if !bytes.Equal(gen(7), gen(7)) {
		t.Error("seed 7 gave different bytes on two runs")
	}
	if bytes.Equal(gen(7), gen(8)) {
		t.Error("seeds 7 and 8 gave equal bytes")
	}
	if err := Generate(&bytes.Buffer{}, -1, 1); err == nil {
		t.Error("Generate(-1) succeeded, want an error")
	}
}

func TestGenerateHeaderAsPublished(t *testing.T) {
	var b bytes.Buffer
	if err := Generate(&b, 1, 1); err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(b.Bytes(), []byte("\n"))
	for _, want := range []string{"Marital status;Application mode;", ";Daytime/evening attendance\t;", ";Nacionality;", ";GDP;Target"} {
		if !bytes.Contains(head, []byte(want)) {
			t.Errorf("header lacks %q: %q", want, head)
		}
	}
	if n := bytes.Count(head, []byte(";")) + 1; n != 37 {
		t.Errorf("header has %d columns, want 37", n)
	}
}

// shiftedRows is Generate's rows, shifted, as Records reads them.
func shiftedRows(t *testing.T, n int, seed uint64, s Shift) Dataset {
	t.Helper()
	var b bytes.Buffer
	if err := GenerateShifted(&b, n, seed, s); err != nil {
		t.Fatal(err)
	}
	d, rep, err := Records(&b, false)
	if err != nil || rep.Rows != n || d.Len() != n {
		t.Fatalf("Records of %d generated rows: %d rows read, %d kept, %v", n, rep.Rows, d.Len(), err)
	}
	return d
}

func mean(d Dataset, feature string) float64 {
	j := slices.Index(Features, feature)
	s := 0.0
	for _, x := range d.X {
		s += x[j]
	}
	return s / float64(d.Len())
}

// No shift is Generate, byte for byte; a shift lowers the grades and the
// share of units passed clearly, by what it moves.
func TestGenerateShifted(t *testing.T) {
	var plain, zero bytes.Buffer
	if err := Generate(&plain, 300, 9); err != nil {
		t.Fatal(err)
	}
	if err := GenerateShifted(&zero, 300, 9, Shift{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain.Bytes(), zero.Bytes()) {
		t.Error("GenerateShifted with no shift differs from Generate")
	}
	const n, seed = 3000, 5
	base := shiftedRows(t, n, seed, Shift{})
	tests := []struct {
		name  string
		shift Shift
		drops map[string]float64 // feature → the least its mean must fall
	}{
		{"ability", Shift{Ability: -1}, map[string]float64{"sem1_grade": 1, "sem2_grade": 1, "sem1_approved_ratio": 0.1, "admission_grade": 5}},
		{"passing", Shift{Pass: -1}, map[string]float64{"sem1_approved_ratio": 0.1, "sem2_approved_ratio": 0.1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shiftedRows(t, n, seed, tt.shift)
			for f, drop := range tt.drops {
				if b, s := mean(base, f), mean(got, f); b-s < drop {
					t.Errorf("%s: mean %.3f unshifted, %.3f shifted; want a fall of at least %v", f, b, s, drop)
				} else {
					t.Logf("%s: mean %.3f unshifted, %.3f shifted", f, b, s)
				}
			}
		})
	}
	for _, bad := range []Shift{{Ability: math.NaN()}, {Pass: math.Inf(-1)}} {
		if err := GenerateShifted(&bytes.Buffer{}, 1, 1, bad); err == nil {
			t.Errorf("shift %+v accepted, want an error", bad)
		}
	}
}
