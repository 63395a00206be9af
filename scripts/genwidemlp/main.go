// Command genwidemlp writes the widemlp test fixture,
// testdata/models/widemlp/1/model.onnx, without Python. Run it from the
// repository root (`make fixtures` does):
//
//	go run ./scripts/genwidemlp
//
// Its output is deterministic: re-running it rewrites the same bytes, and
// a test checks that the committed file is what it writes.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// out is the fixture's path from the repository root.
var out = filepath.Join("testdata", "models", "widemlp", "1", "model.onnx")

func main() {
	if err := write(out); err != nil {
		fmt.Fprintln(os.Stderr, "genwidemlp:", err)
		os.Exit(1)
	}
}

func write(path string) error {
	b, err := model()
	if err != nil {
		return fmt.Errorf("building widemlp: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d bytes, layers %v\n", path, len(b), widths)
	return nil
}
