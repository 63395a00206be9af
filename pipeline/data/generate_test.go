package data

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
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
