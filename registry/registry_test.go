package registry_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// repo lays out a model repository: model name -> version -> model file,
// plus optional config.yaml contents.
func repo(t testing.TB, models map[string]map[string]string, configs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, versions := range models {
		for v, src := range versions {
			vdir := filepath.Join(dir, name, v)
			if err := os.MkdirAll(vdir, 0o755); err != nil {
				t.Fatal(err)
			}
			var b []byte
			if src == "corrupt" {
				b = []byte("this is not an onnx model")
			} else {
				var err error
				if b, err = os.ReadFile(src); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(vdir, "model.onnx"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if c, ok := configs[name]; ok {
			if err := os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func load(t testing.TB, dir string) *registry.Registry {
	t.Helper()
	r := newRegistry(t, dir, registry.ModePoll)
	if err := r.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// newRegistry is a registry over dir in the given control mode, closed when
// the test ends; nothing is loaded yet.
func newRegistry(t testing.TB, dir, mode string) *registry.Registry {
	t.Helper()
	ortest.Init(t)
	cfg := registry.DefaultConfig()
	cfg.Path, cfg.ControlMode = dir, mode
	r, err := registry.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func TestLoadsEveryVersionAndRoutesToTheHighest(t *testing.T) {
	ortest.Init(t)
	mlp := ortest.Fixture(t, "mlp")
	dir := repo(t, map[string]map[string]string{"m": {"1": mlp, "3": mlp, "notaversion": mlp, "0": mlp}}, map[string]string{"m": "version_policy: all\n"})
	r := load(t, dir)
	v, err := r.Lookup("m", "")
	if err != nil || v.Label() != "3" {
		t.Fatalf("unversioned lookup = %v, %v; want version 3", v, err)
	}
	vs, _ := r.Versions("m")
	if len(vs) != 2 {
		t.Errorf("loaded %d versions, want 2 (1 and 3; folders 0 and notaversion ignored)", len(vs))
	}
	if !r.Ready() {
		t.Error("registry not ready")
	}
}

func TestFailedVersionsAreRecordedAndNeverServe(t *testing.T) {
	ortest.Init(t)
	mlp := ortest.Fixture(t, "mlp")
	models := map[string]map[string]string{
		"good":    {"1": mlp, "2": "corrupt"},
		"broken":  {"1": "corrupt"},
		"gpu":     {"1": mlp},
		"badcfg":  {"1": mlp},
		"baddims": {"1": ortest.PPOCR(t)},
		"failing": {"1": ortest.Fixture(t, "failing")},
	}
	configs := map[string]string{
		"gpu":     "provider: cuda\n",
		"badcfg":  "instances: 2\nmax_batch: 4\n",
		"baddims": "inputs:\n  - name: x\n    dims: [-1, 4, 48, 192]\n",
		"good":    "version_policy: all\n",
	}
	r := load(t, repo(t, models, configs))
	tests := []struct {
		model, version string
		kind           tensor.Kind
		msg            string
	}{
		{"good", "", tensor.Kind(255), ""},
		{"good", "2", tensor.Unavailable, "version 2 is not ready"},
		{"broken", "", tensor.Unavailable, `model "broken" has no ready version`},
		{"gpu", "", tensor.Unavailable, `execution provider "cuda" is not available yet`},
		{"badcfg", "", tensor.Unavailable, `unknown field "max_batch"`},
		{"baddims", "", tensor.Unavailable, "dimension 1 is 4, the model fixes it at 3"},
		{"failing", "", tensor.Unavailable, "warm-up inference failed"},
		{"absent", "", tensor.NotFound, `model "absent" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.version, func(t *testing.T) {
			v, err := r.Lookup(tt.model, tt.version)
			if tt.msg == "" {
				if err != nil || v.Label() != "1" {
					t.Fatalf("lookup = %v, %v; want version 1 serving despite the corrupt version 2", v, err)
				}
				return
			}
			if err == nil || tensor.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v (kind %v), want %v containing %q", err, tensor.KindOf(err), tt.kind, tt.msg)
			}
		})
	}
	if r.Ready() {
		t.Error("registry ready although models have no ready version")
	}
}

func TestInferChecksBeforeRunning(t *testing.T) {
	ortest.Init(t)
	r := load(t, repo(t, map[string]map[string]string{"rowid": {"1": ortest.Fixture(t, "rowid")}}, nil))
	v, err := r.Lookup("rowid", "1")
	if err != nil {
		t.Fatal(err)
	}
	req := &tensor.Request{ID: "r", Inputs: []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 4}, Data: make([]byte, 16)}},
		Outputs: []tensor.OutputRequest{{Name: "sum"}, {Name: "y"}}}
	resp, err := v.Infer(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Outputs) != 2 || resp.Outputs[0].Name != "sum" || resp.Outputs[1].Name != "y" || resp.ID != "r" {
		t.Errorf("outputs not in the order asked: %+v", resp.Outputs)
	}
	req.Inputs[0].Shape = []int64{2, 4}
	if _, err := v.Infer(context.Background(), req); tensor.KindOf(err) != tensor.InvalidArgument {
		t.Errorf("element count mismatch: err = %v, want invalid argument", err)
	}
}

func FuzzParseModelConfig(f *testing.F) {
	f.Add([]byte("instances: 2\nintra_op_threads: 1\ninputs:\n  - name: x\n    dims: [-1, 3]\n"))
	f.Add([]byte("provider: tensorrt\ngraph_optimization: basic\n"))
	f.Add([]byte("platform: tensorflow\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := registry.DefaultModelConfig()
		if err := registry.ParseModelConfig(b, &cfg); err != nil {
			if tensor.KindOf(err) != tensor.InvalidArgument {
				t.Fatalf("error kind %v: %v", tensor.KindOf(err), err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted a config that does not validate: %v", err)
		}
	})
}
