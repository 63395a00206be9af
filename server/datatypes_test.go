package server_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
)

// typeCase is one data type of the alltypes fixture: six values as JSON
// sends them and as little-endian bytes.
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
	}
}

func lower(dt string) string {
	if dt == "BYTES" {
		return "string"
	}
	return string(bytes.ToLower([]byte(dt)))
}

func TestEveryDataTypeRoundTripsThroughJSON(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "alltypes")
	cases := allTypeCases()
	var inputs []any
	for _, c := range cases {
		inputs = append(inputs, map[string]any{"name": "in_" + lower(c.dt), "datatype": c.dt, "shape": []int{2, 3}, "data": c.values})
	}
	status, _, body := s.do(t, "POST", "/v2/models/alltypes/infer", mustJSON(t, map[string]any{"inputs": inputs}), nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	r := decodeJSON[inferResponse](t, body)
	byName := map[string]int{}
	for i, o := range r.Outputs {
		byName[o.Name] = i
	}
	for _, c := range cases {
		t.Run(c.dt, func(t *testing.T) {
			o := r.Outputs[byName["out_"+lower(c.dt)]]
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
	case "FP16", "FP32":
		g, err := got.(json.Number).Float64()
		return err == nil && float32(g) == toFloat32(want)
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
	s := startServer(t, server.DefaultConfig(), "alltypes")
	cases := allTypeCases()
	var inputs []any
	var blobs [][]byte
	for _, c := range cases {
		inputs = append(inputs, map[string]any{"name": "in_" + lower(c.dt), "datatype": c.dt, "shape": []int{2, 3},
			"parameters": map[string]any{"binary_data_size": len(c.bytes)}})
		blobs = append(blobs, c.bytes)
	}
	body, hdr := binaryBody(t, map[string]any{"inputs": inputs, "parameters": map[string]any{"binary_data_output": true}}, blobs...)
	status, rh, rbody := s.do(t, "POST", "/v2/models/alltypes/infer", body, hdr)
	if status != 200 {
		t.Fatalf("status %d: %s", status, rbody)
	}
	r, bin := splitBinary(t, rh, rbody)
	got := map[string][]byte{}
	for _, o := range r.Outputs {
		n, err := strconv.Atoi(fmt.Sprint(o.Parameters["binary_data_size"]))
		if err != nil || n > len(bin) {
			t.Fatalf("output %s: binary_data_size %v", o.Name, o.Parameters["binary_data_size"])
		}
		got[o.Name], bin = bin[:n], bin[n:]
	}
	for _, c := range cases {
		if g := got["out_"+lower(c.dt)]; !bytes.Equal(g, c.bytes) {
			t.Errorf("%s: got bytes %v, want %v", c.dt, g, c.bytes)
		}
	}
	if len(bin) != 0 {
		t.Errorf("%d bytes left after the outputs", len(bin))
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
