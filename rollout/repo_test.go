package rollout

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-serving/sluice/runtime/ortest"
)

// studentFolder lays out a repository whose model "student" has version 1
// (student-success 1) and version 2 (the file v2), with cfg as its
// config.yaml, and returns the repository folder.
func studentFolder(t testing.TB, v2, cfg string) string {
	t.Helper()
	ortest.Init(t)
	dir := t.TempDir()
	for v, from := range map[string]string{"1": ortest.Path(t, "models/student-success/1/model.onnx"), "2": v2} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "student", v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "student", v, "model.onnx"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "student", "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// StudentFolder is studentFolder for the external tests.
var StudentFolder = studentFolder
