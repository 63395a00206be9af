package onnxpb_test

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
	"github.com/sluice-serving/sluice/runtime/ortest"
)

// readFixture parses a file that Python's onnx package wrote, so every
// field read back proves the generated field numbers are ONNX's.
func readFixture(t *testing.T) ([]byte, *pb.ModelProto) {
	t.Helper()
	raw, err := os.ReadFile(ortest.Path(t, "models/student-success/1/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(raw, &m); err != nil {
		t.Fatalf("unmarshalling student-success/1: %v", err)
	}
	return raw, &m
}

func TestReadsONNXFixture(t *testing.T) {
	_, m := readFixture(t)
	if m.GetIrVersion() != 8 || len(m.GetOpsetImport()) != 1 || m.GetOpsetImport()[0].GetVersion() != 13 {
		t.Fatalf("ir_version %d, opsets %v; expected 8 and opset 13", m.GetIrVersion(), m.GetOpsetImport())
	}
	if m.GetProducerName() != "sluice-gen-fixtures" || m.GetGraph().GetName() != "student_success_v1" {
		t.Fatalf("producer %q, graph %q; expected sluice-gen-fixtures and student_success_v1", m.GetProducerName(), m.GetGraph().GetName())
	}
	var ops []string
	for _, n := range m.GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
	}
	if want := []string{"MatMul", "Add", "Sigmoid", "Greater", "Cast"}; !slices.Equal(ops, want) {
		t.Fatalf("nodes %v, expected %v", ops, want)
	}
}

func TestReadsONNXSignature(t *testing.T) {
	_, m := readFixture(t)
	in := m.GetGraph().GetInput()
	if len(in) != 1 || in[0].GetName() != "features" {
		t.Fatalf("inputs %v, expected one named features", in)
	}
	tt := in[0].GetType().GetTensorType()
	dims := tt.GetShape().GetDim()
	if tt.GetElemType() != int32(pb.TensorProto_FLOAT) || len(dims) != 2 || dims[0].GetDimParam() != "batch" || dims[1].GetDimValue() != 8 {
		t.Fatalf("features: type %d dims %v, expected FLOAT [batch, 8]", tt.GetElemType(), dims)
	}
	out := m.GetGraph().GetOutput()
	if len(out) != 2 || out[1].GetName() != "label" || out[1].GetType().GetTensorType().GetElemType() != int32(pb.TensorProto_INT64) {
		t.Fatalf("outputs %v, expected probability and an INT64 label", out)
	}
}

func TestReadsONNXInitializersAndAttributes(t *testing.T) {
	_, m := readFixture(t)
	w := m.GetGraph().GetInitializer()[0]
	if w.GetName() != "W" || !slices.Equal(w.GetDims(), []int64{8, 1}) || len(w.GetRawData()) != 32 {
		t.Fatalf("first initializer %q dims %v with %d raw bytes, expected W [8 1] with 32", w.GetName(), w.GetDims(), len(w.GetRawData()))
	}
	cast := m.GetGraph().GetNode()[4]
	a := cast.GetAttribute()
	if len(a) != 1 || a[0].GetName() != "to" || a[0].GetType() != pb.AttributeProto_INT || a[0].GetI() != int64(pb.TensorProto_INT64) {
		t.Fatalf("Cast attributes %v, expected to=INT64", a)
	}
}

// Nothing in the fixture falls outside the subset, and writing it back
// gives Python's bytes: the wire format is ONNX's, field for field.
func TestRoundTripsONNXFixture(t *testing.T) {
	raw, m := readFixture(t)
	if u := m.ProtoReflect().GetUnknown(); len(u) != 0 {
		t.Fatalf("%d bytes of unknown fields at the top level", len(u))
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, raw) {
		t.Fatalf("re-marshalled %d bytes differ from the fixture's %d", len(again), len(raw))
	}
}
