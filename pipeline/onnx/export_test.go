package onnx_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluice-serving/sluice/pipeline/model"
	"github.com/sluice-serving/sluice/pipeline/onnx"
	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
)

func TestExportIsDeterministic(t *testing.T) {
	for name, build := range map[string]func() *model.Model{"logreg": logReg, "mlp": mlp} {
		t.Run(name, func(t *testing.T) {
			a, errA := onnx.Export(build(), "g")
			b, errB := onnx.Export(build(), "g")
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("two exports of the same model differ (%d and %d bytes)", len(a), len(b))
			}
		})
	}
}

func TestExportGraph(t *testing.T) {
	tests := []struct {
		name string
		m    *model.Model
		ops  []string
	}{
		{"logreg", logReg(), []string{"MatMul", "Add", "Sigmoid", "Greater", "Cast"}},
		{"mlp", mlp(), []string{"MatMul", "Add", "Relu", "MatMul", "Add", "Sigmoid", "Greater", "Cast"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp := exported(t, tt.m)
			if mp.GetIrVersion() != 8 || mp.GetOpsetImport()[0].GetVersion() != 13 || mp.GetProducerName() != "sluice-pipeline" {
				t.Fatalf("ir %d opset %d producer %q, expected 8, 13, sluice-pipeline", mp.GetIrVersion(), mp.GetOpsetImport()[0].GetVersion(), mp.GetProducerName())
			}
			// Normalisation is folded: no Sub or Div, only the layers' ops.
			if got := opTypes(mp); !slices.Equal(got, tt.ops) {
				t.Fatalf("nodes %v, expected %v", got, tt.ops)
			}
		})
	}
}

func TestExportRecordsFeatureNames(t *testing.T) {
	mp := exported(t, logReg())
	props := map[string]string{}
	for _, p := range mp.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	var names []string
	if err := json.Unmarshal([]byte(props["features"]), &names); err != nil || !slices.Equal(names, features) {
		t.Fatalf("features metadata %q (%v), expected %v", props["features"], err, features)
	}
	if props["kind"] != model.LogReg || props["threshold"] != "0.42" {
		t.Fatalf("kind %q threshold %q, expected logreg and 0.42", props["kind"], props["threshold"])
	}
}

func TestExportRefusesInvalidModel(t *testing.T) {
	zeroStd := logReg()
	zeroStd.Std = append([]float64(nil), stds...)
	zeroStd.Std[3] = 0
	wide := mlp()
	wide.Layers[1].Out = 2
	noLayers := logReg()
	noLayers.Layers = nil
	for name, m := range map[string]*model.Model{"zero std": zeroStd, "two outputs": wide, "no layers": noLayers} {
		t.Run(name, func(t *testing.T) {
			want := m.Validate()
			_, err := onnx.Export(m, "g")
			if want == nil || err == nil || !strings.Contains(err.Error(), want.Error()) {
				t.Fatalf("export error %v, expected one carrying %v", err, want)
			}
		})
	}
}

func TestExportRefusesEmptyGraphName(t *testing.T) {
	if _, err := onnx.Export(logReg(), ""); err == nil || !strings.Contains(err.Error(), "graph name") {
		t.Fatalf("error %v, expected one naming the empty graph name", err)
	}
}

func exported(t *testing.T, m *model.Model) *pb.ModelProto {
	t.Helper()
	b, err := onnx.Export(m, "g")
	if err != nil {
		t.Fatal(err)
	}
	var mp pb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	return &mp
}

func opTypes(mp *pb.ModelProto) []string {
	var ops []string
	for _, n := range mp.GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
	}
	return ops
}
