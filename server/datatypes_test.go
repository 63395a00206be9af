package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
)

// typeCase is one data type of the alltypes fixture (of the bf16 model for
// BF16, see startTypesServer): six values as JSON sends them and as
// little-endian bytes.
type typeCase struct {
	dt     string
	values []any
	bytes  []byte
}

func le[T any](vs ...T) []byte {
	var buf bytes.Buffer
	for _, v := range vs {
		binary.Write(&buf, binary.LittleEndian, v)
	}
	return buf.Bytes()
}

func halfs(fs ...float32) []byte {
	out := make([]byte, 0, 2*len(fs))
	for _, f := range fs {
		out = binary.LittleEndian.AppendUint16(out, tensor.HalfFromFloat32(f))
	}
	return out
}

func bf16s(hs ...uint16) []byte { return le(hs...) }

func stringsData(ss ...string) []byte {
	var out []byte
	for _, s := range ss {
		out = tensor.AppendBytesElement(out, []byte(s))
	}
	return out
}

func allTypeCases() []typeCase {
	strs := []string{"hello", "", "ünïcødé", `quote" and \ back`, "tab\tnew\nline", "x"}
	return []typeCase{
		{"BOOL", []any{true, false, true, false, false, true}, []byte{1, 0, 1, 0, 0, 1}},
		{"UINT8", []any{0, 1, 127, 128, 200, 255}, []byte{0, 1, 127, 128, 200, 255}},
		{"UINT16", []any{0, 1, 300, 40000, 65534, 65535}, le[uint16](0, 1, 300, 40000, 65534, 65535)},
		{"UINT32", []any{0, 1, 70000, 1 << 31, 4294967294, 4294967295}, le[uint32](0, 1, 70000, 1<<31, 4294967294, 4294967295)},
		{"UINT64", []any{uint64(0), uint64(1), uint64(1 << 40), uint64(1 << 63), uint64(math.MaxUint64 - 1), uint64(math.MaxUint64)}, le[uint64](0, 1, 1<<40, 1<<63, math.MaxUint64-1, math.MaxUint64)},
		{"INT8", []any{-128, -1, 0, 1, 100, 127}, le[int8](-128, -1, 0, 1, 100, 127)},
		{"INT16", []any{-32768, -1, 0, 1, 1000, 32767}, le[int16](-32768, -1, 0, 1, 1000, 32767)},
		{"INT32", []any{math.MinInt32, -1, 0, 1, 123456, math.MaxInt32}, le[int32](math.MinInt32, -1, 0, 1, 123456, math.MaxInt32)},
		{"INT64", []any{int64(math.MinInt64), -1, 0, 1, int64(1) << 53, int64(math.MaxInt64)}, le[int64](math.MinInt64, -1, 0, 1, 1<<53, math.MaxInt64)},
		{"FP16", []any{0.5, -2, 65504, 1.5, 6.103515625e-05, 0}, halfs(0.5, -2, 65504, 1.5, 6.103515625e-05, 0)},
		{"FP32", []any{float32(0.1), float32(-1.5), float32(math.MaxFloat32), float32(1e-45), float32(3.14159265), float32(0)}, le[float32](0.1, -1.5, math.MaxFloat32, 1e-45, 3.14159265, 0)},
		{"FP64", []any{0.1, -2.5, math.MaxFloat64, 5e-324, math.Pi, 0.0}, le[float64](0.1, -2.5, math.MaxFloat64, 5e-324, math.Pi, 0)},
		{"BYTES", []any{strs[0], strs[1], strs[2], strs[3], strs[4], strs[5]}, stringsData(strs...)},
		// 1, -2.5, 0.1 rounded, the largest, the smallest subnormal, -0.
		{"BF16", []any{1, -2.5, 0.10009765625, 3.3895313892515355e38, 9.183549615799121e-41, math.Copysign(0, -1)}, bf16s(0x3f80, 0xc020, 0x3dcd, 0x7f7f, 0x0001, 0x8000)},
	}
}

// startTypesServer serves the data type cases: the committed alltypes
// fixture, an Identity per type but BF16, and bf16, the same for BF16
// (in_bf16 BF16 [batch,3] to out_bf16). bf16 is written here with
// ortest.Model: the alltypes fixture is regenerated with python3-onnx
// (make fixtures), and every caller of alltypes would then have to send a
// BF16 input too.
func startTypesServer(t *testing.T) *testServer {
	t.Helper()
	s := startServer(t, server.DefaultConfig(), "alltypes")
	bf16 := onnxpb.TensorProto_BFLOAT16
	model := ortest.Model(t, "bf16", []ortest.TensorIO{{Name: "in_bf16", Elem: bf16, Width: 3}}, []ortest.TensorIO{{Name: "out_bf16", Elem: bf16, Width: 3}},
		[]ortest.Node{{Op: "Identity", In: []string{"in_bf16"}, Out: []string{"out_bf16"}}})
	dir := filepath.Join(s.repo, "bf16", "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if status, _, body := s.do(t, "GET", "/v2/models/bf16/ready", nil, nil); status != 200 {
		t.Fatalf("bf16 not ready: %d %s", status, body)
	}
	return s
}

// typeModel is the model of startTypesServer that serves a data type.
func typeModel(dt string) string {
	if dt == "BF16" {
		return "bf16"
	}
	return "alltypes"
}

// typeModels lists the cases' models, each once, in order.
func typeModels(cases []typeCase) []string {
	var models []string
	for _, c := range cases {
		if m := typeModel(c.dt); !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	return models
}

func lower(dt string) string {
	if dt == "BYTES" {
		return "string"
	}
	return string(bytes.ToLower([]byte(dt)))
}

func TestEveryDataTypeRoundTripsThroughJSON(t *testing.T) {
	s := startTypesServer(t)
	cases := allTypeCases()
	var all inferResponse // every model's outputs
	for _, model := range typeModels(cases) {
		var inputs []any
		for _, c := range cases {
			if typeModel(c.dt) == model {
				inputs = append(inputs, map[string]any{"name": "in_" + lower(c.dt), "datatype": c.dt, "shape": []int{2, 3}, "data": c.values})
			}
		}
		status, _, body := s.do(t, "POST", "/v2/models/"+model+"/infer", mustJSON(t, map[string]any{"inputs": inputs}), nil)
		if status != 200 {
			t.Fatalf("%s: status %d: %s", model, status, body)
		}
		all.Outputs = append(all.Outputs, decodeJSON[inferResponse](t, body).Outputs...)
	}
	byName := map[string]int{}
	for i, o := range all.Outputs {
		byName[o.Name] = i
	}
	for _, c := range cases {
		t.Run(c.dt, func(t *testing.T) {
			i, ok := byName["out_"+lower(c.dt)]
			if !ok {
				t.Fatalf("no output out_%s", lower(c.dt))
			}
			o := all.Outputs[i]
			if o.DataType != c.dt || fmt.Sprint(o.Shape) != "[2 3]" || len(o.Data) != 6 {
				t.Fatalf("output %s: %s %v with %d elements", o.Name, o.DataType, o.Shape, len(o.Data))
			}
			for i, want := range c.values {
				if !sameJSONValue(c.dt, o.Data[i], want) {
					t.Errorf("element %d: got %v, want %v", i, o.Data[i], want)
				}
			}
		})
	}
}

// sameJSONValue compares a decoded JSON element with the value sent, at the
// precision of the data type.
func sameJSONValue(dt string, got, want any) bool {
	switch dt {
	case "BOOL", "BYTES":
		return got == want
	case "FP16", "BF16", "FP32":
		g, err := got.(json.Number).Float64()
		f := toFloat32(want)
		return err == nil && float32(g) == f && math.Signbit(g) == math.Signbit(float64(f))
	case "FP64":
		g, err := got.(json.Number).Float64()
		return err == nil && g == want.(float64)
	}
	return got.(json.Number).String() == fmt.Sprint(want)
}

func toFloat32(v any) float32 {
	switch x := v.(type) {
	case float32:
		return x
	case float64:
		return float32(x)
	case int:
		return float32(x)
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

func TestEveryDataTypeRoundTripsThroughBinary(t *testing.T) {
	s := startTypesServer(t)
	cases := allTypeCases()
	got := map[string][]byte{}
	for _, model := range typeModels(cases) {
		var inputs []any
		var blobs [][]byte
		for _, c := range cases {
			if typeModel(c.dt) == model {
				inputs = append(inputs, map[string]any{"name": "in_" + lower(c.dt), "datatype": c.dt, "shape": []int{2, 3},
					"parameters": map[string]any{"binary_data_size": len(c.bytes)}})
				blobs = append(blobs, c.bytes)
			}
		}
		body, hdr := binaryBody(t, map[string]any{"inputs": inputs, "parameters": map[string]any{"binary_data_output": true}}, blobs...)
		status, rh, rbody := s.do(t, "POST", "/v2/models/"+model+"/infer", body, hdr)
		if status != 200 {
			t.Fatalf("%s: status %d: %s", model, status, rbody)
		}
		r, bin := splitBinary(t, rh, rbody)
		for _, o := range r.Outputs {
			n, err := strconv.Atoi(fmt.Sprint(o.Parameters["binary_data_size"]))
			if err != nil || n > len(bin) {
				t.Fatalf("output %s: binary_data_size %v", o.Name, o.Parameters["binary_data_size"])
			}
			if o.DataType != typeOfOutput(o.Name, cases) {
				t.Errorf("output %s: datatype %q", o.Name, o.DataType)
			}
			got[o.Name], bin = bin[:n], bin[n:]
		}
		if len(bin) != 0 {
			t.Errorf("%s: %d bytes left after the outputs", model, len(bin))
		}
	}
	for _, c := range cases {
		if g := got["out_"+lower(c.dt)]; !bytes.Equal(g, c.bytes) {
			t.Errorf("%s: got bytes %v, want %v", c.dt, g, c.bytes)
		}
	}
}

// typeOfOutput is the data type of the case whose output is named name.
func typeOfOutput(name string, cases []typeCase) string {
	for _, c := range cases {
		if "out_"+lower(c.dt) == name {
			return c.dt
		}
	}
	return ""
}

// The bf16 model's metadata and config name its tensors' type as the v2
// protocol (BF16) and Triton's model config (TYPE_BF16) do.
func TestBF16DataTypeInMetadataAndConfig(t *testing.T) {
	s := startTypesServer(t)
	status, _, body := s.do(t, "GET", "/v2/models/bf16", nil, nil)
	var meta struct {
		Inputs, Outputs []struct {
			Name     string  `json:"name"`
			DataType string  `json:"datatype"`
			Shape    []int64 `json:"shape"`
		}
	}
	if status != 200 || json.Unmarshal(body, &meta) != nil {
		t.Fatalf("metadata: %d %s", status, body)
	}
	if len(meta.Inputs) != 1 || meta.Inputs[0].Name != "in_bf16" || meta.Inputs[0].DataType != "BF16" || fmt.Sprint(meta.Inputs[0].Shape) != "[-1 3]" ||
		len(meta.Outputs) != 1 || meta.Outputs[0].Name != "out_bf16" || meta.Outputs[0].DataType != "BF16" {
		t.Errorf("metadata %s, want in_bf16 and out_bf16 BF16 [-1,3]", body)
	}
	status, _, body = s.do(t, "GET", "/v2/models/bf16/config", nil, nil)
	if status != 200 || bytes.Count(body, []byte(`"data_type":"TYPE_BF16"`)) != 2 {
		t.Errorf("config: %d %s, want TYPE_BF16 for the input and the output", status, body)
	}
	// A BF16 value past the type's range is refused, as FP16's are.
	req := []byte(`{"inputs":[{"name":"in_bf16","datatype":"BF16","shape":[1,3],"data":[1,2,3.4e38]}]}`)
	if status, _, body := s.do(t, "POST", "/v2/models/bf16/infer", req, nil); status != 400 || !bytes.Contains(body, []byte("3.4e38 is out of BF16 range")) {
		t.Errorf("out of range: %d %s, want 400", status, body)
	}
	// FP32 data for a BF16 input is refused: the datatype must match.
	req = []byte(`{"inputs":[{"name":"in_bf16","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}`)
	if status, _, body := s.do(t, "POST", "/v2/models/bf16/infer", req, nil); status != 400 || !bytes.Contains(body, []byte("BF16")) {
		t.Errorf("FP32 for BF16: %d %s, want 400 naming BF16", status, body)
	}
}

func TestNoBatchModelAndFP16Output(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "nobatch", "fp16out")
	req := map[string]any{"inputs": []any{map[string]any{"name": "x", "datatype": "FP32", "shape": []int{2, 2}, "data": [][]float32{{1, 1}, {1, 1}}}}}
	status, _, body := s.do(t, "POST", "/v2/models/nobatch/infer", mustJSON(t, req), nil)
	if status != 200 || !bytes.Contains(body, []byte(`"data":[2,3,4,5]`)) {
		t.Errorf("nobatch: %d %s, want data [2,3,4,5]", status, body)
	}
	req = map[string]any{"inputs": []any{map[string]any{"name": "x", "datatype": "FP32", "shape": []int{1, 2}, "data": []float32{0.5, -3}}}}
	status, _, body = s.do(t, "POST", "/v2/models/fp16out/infer", mustJSON(t, req), nil)
	if status != 200 || !bytes.Contains(body, []byte(`"datatype":"FP16","shape":[1,2],"data":[0.5,-3]`)) {
		t.Errorf("fp16out: %d %s", status, body)
	}
}
