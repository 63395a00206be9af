package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedFixtureIsGenerated fails when the committed model and the
// generator have drifted apart: rerun `go run ./scripts/genwidemlp`.
func TestCommittedFixtureIsGenerated(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join("..", "..", out))
	if err != nil {
		t.Fatal(err)
	}
	b, err := model()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, committed) {
		t.Fatalf("%s (%d bytes) differs from what genwidemlp writes (%d bytes): run `go run ./scripts/genwidemlp`", out, len(committed), len(b))
	}
	again, _ := model()
	if !bytes.Equal(b, again) {
		t.Fatal("two runs of genwidemlp gave different bytes")
	}
}

func TestWriteMakesTheFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "widemlp", "1", "model.onnx")
	if err := write(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("stat %s: %v, %v", path, fi, err)
	}
}
