package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// A call that breaks the model's signature is refused as a bad request
// naming what is wrong, before it reaches a batch.
func TestConformanceErrors(t *testing.T) {
	ortest.Init(t)
	r := load(t, repo(t, map[string]map[string]string{
		"rowid":    {"1": ortest.Fixture(t, "rowid")},
		"alltypes": {"1": ortest.Fixture(t, "alltypes")},
	}, nil))
	x := tensor.Tensor{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 4}, Data: make([]byte, 16)}
	boolIn := tensor.Tensor{Name: "in_bool", DataType: tensor.Bool, Shape: []int64{1, 3}, Data: make([]byte, 3)}
	tests := []struct {
		name, model string
		req         tensor.Request
		msg         string
	}{
		{"missing input", "alltypes", tensor.Request{Inputs: []tensor.Tensor{boolIn}},
			`input "in_uint8": missing; model "alltypes" expects it (UINT8 [-1,3]); its inputs are "in_bool", "in_uint8", "in_uint16"`},
		{"no inputs", "rowid", tensor.Request{},
			`input "x": missing; model "rowid" expects it (FP32 [-1,4]); its inputs are "x"`},
		{"output twice", "rowid", tensor.Request{Inputs: []tensor.Tensor{x}, Outputs: []tensor.OutputRequest{{Name: "y"}, {Name: "sum"}, {Name: "y"}}},
			`output "y": requested twice`},
		{"input twice", "rowid", tensor.Request{Inputs: []tensor.Tensor{x, x}},
			`input "x": given twice`},
		{"unknown output", "rowid", tensor.Request{Inputs: []tensor.Tensor{x}, Outputs: []tensor.OutputRequest{{Name: "z"}}},
			`output "z": model "rowid" has no such output; its outputs are "y", "sum"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := r.Lookup(tt.model, "1")
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Infer(context.Background(), &tt.req)
			if tensor.KindOf(err) != tensor.InvalidArgument || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v (kind %v), want invalid argument containing %q", err, tensor.KindOf(err), tt.msg)
			}
		})
	}
}

// The same output asked for in different places of the list is refused
// too, and asking once for each output still answers in the order asked.
func TestDistinctOutputsInAnyOrder(t *testing.T) {
	ortest.Init(t)
	r := load(t, repo(t, map[string]map[string]string{"rowid": {"1": ortest.Fixture(t, "rowid")}}, nil))
	v, err := r.Lookup("rowid", "1")
	if err != nil {
		t.Fatal(err)
	}
	req := &tensor.Request{Inputs: []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 4}, Data: make([]byte, 16)}},
		Outputs: []tensor.OutputRequest{{Name: "sum"}, {Name: "y"}}}
	resp, err := v.Infer(context.Background(), req)
	if err != nil || len(resp.Outputs) != 2 || resp.Outputs[0].Name != "sum" {
		t.Fatalf("distinct outputs: %v, %v", resp, err)
	}
	req.Outputs = append(req.Outputs, tensor.OutputRequest{Name: "sum"})
	if _, err := v.Infer(context.Background(), req); err == nil || !strings.Contains(err.Error(), `output "sum": requested twice`) {
		t.Errorf("sum twice: %v", err)
	}
}

// explicitRegistry is a registry over dir in explicit control mode, with
// nothing loaded: each test loads through the repository API's Load.
func explicitRegistry(t *testing.T, dir string) *registry.Registry {
	t.Helper()
	return newRegistry(t, dir, registry.ModeExplicit)
}

// A version whose files are bad is the caller's to fix: loading it through
// the repository API is an invalid argument naming the reason (the server
// answers 400), while a missing GPU provider stays unavailable (503).
func TestLoadFailureKinds(t *testing.T) {
	ortest.Init(t)
	mlp := ortest.Fixture(t, "mlp")
	dir := repo(t, map[string]map[string]string{
		"corrupt": {"1": "corrupt"},
		"nofile":  {"1": mlp},
		"badcfg":  {"1": mlp},
		"gpu":     {"1": mlp},
	}, map[string]string{"badcfg": "instances: 2\nmax_batch: 4\n", "gpu": "provider: cuda\n"})
	if err := os.Remove(filepath.Join(dir, "nofile", "1", "model.onnx")); err != nil {
		t.Fatal(err)
	}
	r := explicitRegistry(t, dir)
	tests := []struct {
		model string
		kind  tensor.Kind
		msg   string
	}{
		{"corrupt", tensor.InvalidArgument, "Protobuf parsing failed"},
		{"nofile", tensor.InvalidArgument, "model file"},
		{"badcfg", tensor.InvalidArgument, `unknown field "max_batch"`},
		{"gpu", tensor.Unavailable, `execution provider "cuda" is not available yet`},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			err := r.Load(context.Background(), tt.model, nil)
			if tensor.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Load = %v (kind %v), want %v containing %q", err, tensor.KindOf(err), tt.kind, tt.msg)
			}
		})
	}
}

// A corrupt new version loaded beside a serving one is refused with the
// reason, recorded in the index, and the serving version goes on.
func TestCorruptReloadIsInvalidAndKeepsServing(t *testing.T) {
	ortest.Init(t)
	dir := repo(t, map[string]map[string]string{"m": {"1": ortest.Fixture(t, "mlp")}}, nil)
	r := explicitRegistry(t, dir)
	if err := r.Load(context.Background(), "m", nil); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "m", "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m", "2", "model.onnx"), []byte("not an onnx model"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.Load(context.Background(), "m", nil)
	if tensor.KindOf(err) != tensor.InvalidArgument || !strings.Contains(err.Error(), `model "m" version 2`) || !strings.Contains(err.Error(), "Protobuf parsing failed") {
		t.Errorf("Load = %v (kind %v), want invalid argument naming version 2 and the parse failure", err, tensor.KindOf(err))
	}
	if v, err := r.Lookup("m", ""); err != nil || v.Label() != "1" {
		t.Errorf("lookup after the corrupt load = %v, %v; want version 1 serving", v, err)
	}
	for _, e := range r.Index(false) {
		if e.Version == "2" && (e.State != registry.StateUnavailable || !strings.Contains(e.Reason, "Protobuf parsing failed")) {
			t.Errorf("index row for version 2: %+v", e)
		}
	}
}
