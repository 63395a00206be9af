// Package ortest gives tests the real ONNX Runtime and the repository's model
// files. Tests never skip when the runtime is missing: they fail and say how
// to fetch it (`make ort`, `make models`).
package ortest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
)

// Init loads the ONNX Runtime library that `make ort` fetched (or the one
// ONNXRUNTIME_LIB names) once per test binary.
func Init(tb testing.TB) {
	tb.Helper()
	lib := os.Getenv("ONNXRUNTIME_LIB")
	if lib == "" {
		var err error
		if lib, err = runtime.FindLibrary("."); err != nil {
			tb.Fatal(err)
		}
	}
	if err := runtime.Init(lib); err != nil {
		tb.Fatal(err)
	}
}

// InitGPU loads the GPU build that `make ort-gpu` fetched (or the one
// ONNXRUNTIME_GPU_LIB names) instead, for a test binary of its own: a
// process holds one ONNX Runtime library.
func InitGPU(tb testing.TB) {
	tb.Helper()
	lib := os.Getenv("ONNXRUNTIME_GPU_LIB")
	if lib == "" {
		var err error
		if lib, err = runtime.FindGPULibrary("."); err != nil {
			tb.Fatal(err)
		}
	}
	if err := runtime.Init(lib); err != nil {
		tb.Fatal(err)
	}
}

// Root is the repository's root folder, found from the test's folder.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		tb.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("no go.mod in %s or above", dir)
		}
	}
}

// Path is a file under the repository root that must exist; a missing real
// model fails the test with the make target that fetches it.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Root(tb), rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("%s is missing: run `make models` (real models) or `make fixtures`: %v", rel, err)
	}
	return p
}

// PPOCR is the real PP-OCR classifier that `make models` fetches.
func PPOCR(tb testing.TB) string { return Path(tb, "models/ppocr-cls/1/model.onnx") }

// Fixture is a committed test model under testdata/models.
func Fixture(tb testing.TB, name string) string {
	return Path(tb, filepath.Join("testdata", "models", name, "1", "model.onnx"))
}

// FeaturesCall is a v2 JSON call of rows rows of eight features, each 0.5,
// to a student model (student-success, or the student-slow and
// student-broken fixtures).
func FeaturesCall(rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"inputs":[{"name":"features","shape":[%d,8],"datatype":"FP32","data":[`, rows)
	for i := range rows * 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("0.5")
	}
	b.WriteString("]}]}")
	return b.String()
}

// CopyModel copies a model folder of the repository (rel, such as
// "models/student-success") to dst: its config file and its versions'
// model files, not what `make` or a run left beside them.
func CopyModel(tb testing.TB, rel, dst string) {
	tb.Helper()
	src := Path(tb, rel)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		switch filepath.Base(p) {
		case "model.onnx", "config.yaml", "config.pbtxt", "model_card.json":
		default:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		tb.Fatal(err)
	}
}
