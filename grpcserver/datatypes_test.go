package grpcserver_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/grpcserver"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// typeCase is one data type of the alltypes fixture (identity per type,
// [batch,3]): six elements as typed contents (nil for the types that
// travel raw only) and as the little-endian bytes a tensor holds.
type typeCase struct {
	dt       string
	contents *tritonpb.InferTensorContents
	raw      []byte
}

func le[T any](vs ...T) []byte {
	var buf bytes.Buffer
	for _, v := range vs {
		binary.Write(&buf, binary.LittleEndian, v)
	}
	return buf.Bytes()
}

func typeCases() []typeCase {
	strs := [][]byte{[]byte("hello"), {}, []byte("ünïcødé"), []byte("a,b"), []byte("tab\t"), []byte("x")}
	var strRaw []byte
	for _, s := range strs {
		strRaw = tensor.AppendBytesElement(strRaw, s)
	}
	var halfs []byte
	for _, f := range []float32{0.5, -2, 65504, 1.5, 6.103515625e-05, 0} {
		halfs = binary.LittleEndian.AppendUint16(halfs, tensor.HalfFromFloat32(f))
	}
	return []typeCase{
		{"BOOL", &tritonpb.InferTensorContents{BoolContents: []bool{true, false, true, false, false, true}}, []byte{1, 0, 1, 0, 0, 1}},
		{"UINT8", &tritonpb.InferTensorContents{UintContents: []uint32{0, 1, 127, 128, 200, 255}}, []byte{0, 1, 127, 128, 200, 255}},
		{"UINT16", &tritonpb.InferTensorContents{UintContents: []uint32{0, 1, 300, 40000, 65534, 65535}}, le[uint16](0, 1, 300, 40000, 65534, 65535)},
		{"UINT32", &tritonpb.InferTensorContents{UintContents: []uint32{0, 1, 70000, 1 << 31, 4294967294, 4294967295}}, le[uint32](0, 1, 70000, 1<<31, 4294967294, 4294967295)},
		{"UINT64", &tritonpb.InferTensorContents{Uint64Contents: []uint64{0, 1, 1 << 40, 1 << 63, math.MaxUint64 - 1, math.MaxUint64}}, le[uint64](0, 1, 1<<40, 1<<63, math.MaxUint64-1, math.MaxUint64)},
		{"INT8", &tritonpb.InferTensorContents{IntContents: []int32{-128, -1, 0, 1, 100, 127}}, le[int8](-128, -1, 0, 1, 100, 127)},
		{"INT16", &tritonpb.InferTensorContents{IntContents: []int32{-32768, -1, 0, 1, 1000, 32767}}, le[int16](-32768, -1, 0, 1, 1000, 32767)},
		{"INT32", &tritonpb.InferTensorContents{IntContents: []int32{math.MinInt32, -1, 0, 1, 123456, math.MaxInt32}}, le[int32](math.MinInt32, -1, 0, 1, 123456, math.MaxInt32)},
		{"INT64", &tritonpb.InferTensorContents{Int64Contents: []int64{math.MinInt64, -1, 0, 1, 1 << 53, math.MaxInt64}}, le[int64](math.MinInt64, -1, 0, 1, 1<<53, math.MaxInt64)},
		{"FP16", nil, halfs},
		{"FP32", &tritonpb.InferTensorContents{Fp32Contents: []float32{0.1, -1.5, math.MaxFloat32, 1e-45, 3.14159265, 0}}, le[float32](0.1, -1.5, math.MaxFloat32, 1e-45, 3.14159265, 0)},
		{"FP64", &tritonpb.InferTensorContents{Fp64Contents: []float64{0.1, -2.5, math.MaxFloat64, 5e-324, math.Pi, 0}}, le[float64](0.1, -2.5, math.MaxFloat64, 5e-324, math.Pi, 0)},
		{"BYTES", &tritonpb.InferTensorContents{BytesContents: strs}, strRaw},
	}
}

func lower(dt string) string {
	if dt == "BYTES" {
		return "string"
	}
	return strings.ToLower(dt)
}

// TestEveryDataType sends every type of the alltypes fixture as
// raw_input_contents and reads each back unchanged; then each type's typed
// contents must become the same bytes (a call cannot mix the two, and FP16
// has no typed field, so typed contents are checked type by type).
func TestEveryDataType(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "alltypes")
	cases := typeCases()
	req := &tritonpb.ModelInferRequest{ModelName: "alltypes"}
	for _, c := range cases {
		req.Inputs = append(req.Inputs, &tritonpb.ModelInferRequest_InferInputTensor{Name: "in_" + lower(c.dt), Datatype: c.dt, Shape: []int64{2, 3}})
		req.RawInputContents = append(req.RawInputContents, c.raw)
	}
	resp, err := f.grpc.ModelInfer(callCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for i, o := range resp.Outputs {
		got[o.Name] = resp.RawOutputContents[i]
	}
	for _, c := range cases {
		if g := got["out_"+lower(c.dt)]; !bytes.Equal(g, c.raw) {
			t.Errorf("%s raw: got %v, want %v", c.dt, g, c.raw)
		}
		if c.contents == nil {
			continue
		}
		one := &tritonpb.ModelInferRequest{ModelName: "alltypes", Inputs: []*tritonpb.ModelInferRequest_InferInputTensor{
			{Name: "in", Datatype: c.dt, Shape: []int64{2, 3}, Contents: c.contents}}}
		var tr tensor.Request
		if err := grpcserver.ToRequest(one, &tr); err != nil {
			t.Errorf("%s typed: %v", c.dt, err)
		} else if !bytes.Equal(tr.Inputs[0].Data, c.raw) {
			t.Errorf("%s typed: got %v, want %v", c.dt, tr.Inputs[0].Data, c.raw)
		}
	}
}

// TestTypedContentsEndToEnd: typed contents answer as raw contents do.
func TestTypedContentsEndToEnd(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success")
	raw := studentCall("raw", 2)
	var values []float32
	for i := range 16 {
		values = append(values, float32(i%8)/8)
	}
	typed := &tritonpb.ModelInferRequest{ModelName: "student-success", Id: "typed", Inputs: []*tritonpb.ModelInferRequest_InferInputTensor{
		{Name: "features", Datatype: "FP32", Shape: []int64{2, 8}, Contents: &tritonpb.InferTensorContents{Fp32Contents: values}}}}
	a, err := f.grpc.ModelInfer(callCtx(t), raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.grpc.ModelInfer(callCtx(t), typed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.RawOutputContents {
		if !bytes.Equal(a.RawOutputContents[i], b.RawOutputContents[i]) {
			t.Errorf("output %s: raw call %x, typed call %x", a.Outputs[i].Name, a.RawOutputContents[i], b.RawOutputContents[i])
		}
	}
}

// TestBF16 sends BF16 raw (the protocol has no typed field for it) to a
// model written at test time, and gets the same tensors HTTP gets.
func TestBF16(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil)
	dir := filepath.Join(f.repo, "bf16", "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), ortest.BF16Model(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Load(callCtx(t), "bf16", nil); err != nil {
		t.Fatal(err)
	}
	bf := le[uint16](0x3f80, 0xc020, 0x3dcd, 0x7f7f, 0x0001, 0x8000)
	fp := le[float32](1, -2.5, 0.1, 3.3e38, 1e-40, 1.00390625)
	req := &tritonpb.ModelInferRequest{ModelName: "bf16", Inputs: []*tritonpb.ModelInferRequest_InferInputTensor{
		{Name: "in_bf16", Datatype: "BF16", Shape: []int64{2, 3}}, {Name: "in_fp32", Datatype: "FP32", Shape: []int64{2, 3}}},
		RawInputContents: [][]byte{bf, fp}}
	g, err := f.grpc.ModelInfer(callCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpCall(t, f, req)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range g.Outputs {
		if o.Name == "out_bf16" && (o.Datatype != "BF16" || !bytes.Equal(g.RawOutputContents[i], bf)) {
			t.Errorf("out_bf16: %s %x, want BF16 %x", o.Datatype, g.RawOutputContents[i], bf)
		}
		if h.Outputs[i].Name != o.Name || !bytes.Equal(h.Outputs[i].Data, g.RawOutputContents[i]) {
			t.Errorf("%s: gRPC %x, HTTP %s %x", o.Name, g.RawOutputContents[i], h.Outputs[i].Name, h.Outputs[i].Data)
		}
	}
	typed := &tritonpb.ModelInferRequest{ModelName: "bf16", Inputs: []*tritonpb.ModelInferRequest_InferInputTensor{
		{Name: "in_bf16", Datatype: "BF16", Shape: []int64{1, 1}, Contents: &tritonpb.InferTensorContents{Fp32Contents: []float32{1}}}}}
	if _, err := f.grpc.ModelInfer(callCtx(t), typed); !strings.Contains(status.Convert(err).Message(), "BF16 has no typed contents field") {
		t.Errorf("BF16 in fp32_contents: %v", err)
	}
}
