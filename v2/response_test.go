package v2_test

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// response is a JSON answer with one output y of type dt, shape [n].
func response(dt string, n int, data string) string {
	return `{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"` + dt + `","shape":[` + strconv.Itoa(n) + `],"data":` + data + `}]}`
}

// The client refuses what the server refuses: values outside their type's
// range, bools that are not true or false, malformed BYTES, data that does
// not fit the shape.
func TestDecodeResponseChecksLikeTheServer(t *testing.T) {
	tests := []struct {
		name   string
		header string
		blob   string // binary section; "-" for a JSON body
		msg    string
	}{
		{"INT8 out of range", response("INT8", 3, `[1,2,300]`), "-", `output "y": element 2: 300 is not a INT8 (-128 to 127)`},
		{"negative UINT8", response("UINT8", 1, `[-1]`), "-", `element 0: -1 is not a UINT8 (0 to 255)`},
		{"UINT16 out of range", response("UINT16", 1, `[65536]`), "-", `65536 is not a UINT16`},
		{"INT32 out of range", response("INT32", 1, `[2147483648]`), "-", `2147483648 is not a INT32`},
		{"negative UINT64", response("UINT64", 1, `[-1]`), "-", `-1 is not a UINT64`},
		{"INT64 past its range", response("INT64", 1, `[9223372036854775808]`), "-", `is not a INT64`},
		{"fraction for INT16", response("INT16", 1, `[1.5]`), "-", `1.5 is not a INT16`},
		{"number for BOOL", response("BOOL", 2, `[true,1]`), "-", `output "y": element 1: expected true or false for BOOL`},
		{"string for BOOL", response("BOOL", 1, `["true"]`), "-", `expected true or false for BOOL`},
		{"null for BOOL", response("BOOL", 1, `[null]`), "-", `expected true or false for BOOL`},
		{"null for INT32", response("INT32", 1, `[null]`), "-", `element 0: expected a INT32 number`},
		{"FP16 out of range", response("FP16", 1, `[65536]`), "-", `element 0: 65536 is out of FP16 range`},
		{"BF16 out of range", response("BF16", 1, `[3.3961776e38]`), "-", `element 0: 3.3961776e38 is out of BF16 range`},
		{"string for BF16", response("BF16", 1, `["1"]`), "-", `element 0: expected a BF16 number`},
		{"FP32 out of range", response("FP32", 1, `[1e39]`), "-", `1e39 is out of FP32 range`},
		{"number for BYTES", response("BYTES", 1, `[5]`), "-", `output "y": element 0: malformed JSON`},
		{"too few elements", response("FP32", 3, `[1,2]`), "-", `output "y": shape [3] of FP32 needs 12 bytes (3 elements), got 8 bytes`},
		{"too few BYTES", response("BYTES", 2, `["a"]`), "-", `output "y": shape [2] needs 2 BYTES elements, got 1`},
		{"unknown datatype", response("FLOAT", 1, `[1]`), "-", `output "y": datatype "FLOAT" is not one of`},
		{"no data", `{"outputs":[{"name":"y","datatype":"FP32","shape":[1]}]}`, "-", `output "y": no "data" and no binary_data_size parameter`},
		{"binary past the body", `{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}`, "ab", `output "y": binary_data_size is 4 but only 2 bytes of binary data remain`},
		{"bytes left over", `{"outputs":[]}`, "abc", `binary data has 3 bytes more than the outputs' binary_data_size parameters account for`},
		{"bad BYTES prefix", `{"outputs":[{"name":"y","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]}`, "\x09\x00\x00\x00ab", `output "y": BYTES element 0: length 9 runs past the 2 bytes left`},
		{"unknown keys are skipped", `{"error":"model not ready","parameters":{"a":[1]}}`, "-", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, headerLen := []byte(tt.header+tt.blob), len(tt.header)
			if tt.blob == "-" {
				body, headerLen = []byte(tt.header), -1
			}
			r, err := v2.DecodeResponse(body, headerLen)
			if tt.msg == "" {
				if err != nil || len(r.Outputs) != 0 {
					t.Fatalf("got %+v, %v; want no outputs and no error", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want one containing %q", err, tt.msg)
			}
			if k := tensor.KindOf(err); k != tensor.InvalidArgument {
				t.Errorf("kind %v, want invalid argument", k)
			}
		})
	}
}

// JSON holds no NaN or infinity: the server writes them as null, and the
// client reads null back as NaN for every FP type (and only there).
func TestNonFiniteFloatsTravelAsNull(t *testing.T) {
	inf := float32(math.Inf(1))
	resp := &tensor.Response{ModelName: "m", ModelVersion: "1", Outputs: []tensor.Tensor{
		{Name: "h", DataType: tensor.FP16, Shape: []int64{2}, Data: halfs(float32(math.NaN()), inf)},
		{Name: "f", DataType: tensor.FP32, Shape: []int64{2}, Data: le[float32](float32(math.NaN()), -inf)},
		{Name: "d", DataType: tensor.FP64, Shape: []int64{2}, Data: le[float64](math.NaN(), math.Inf(1))},
		{Name: "b", DataType: tensor.BF16, Shape: []int64{2}, Data: bf16s(float32(math.NaN()), -inf)},
	}}
	body, hl := v2.AppendResponse(nil, resp, nil)
	if strings.Count(string(body), `"data":[null,null]`) != len(resp.Outputs) {
		t.Fatalf("non-finite values not written as null: %s", body)
	}
	got, err := v2.DecodeResponse(body, hl)
	if err != nil {
		t.Fatal(err)
	}
	h := tensor.Float32FromHalf(binary.LittleEndian.Uint16(got.Outputs[0].Data))
	f := math.Float32frombits(binary.LittleEndian.Uint32(got.Outputs[1].Data))
	d := math.Float64frombits(binary.LittleEndian.Uint64(got.Outputs[2].Data))
	b := tensor.Float32FromBFloat16(binary.LittleEndian.Uint16(got.Outputs[3].Data))
	if !math.IsNaN(float64(h)) || !math.IsNaN(float64(f)) || !math.IsNaN(d) || !math.IsNaN(float64(b)) {
		t.Errorf("null read back as %v, %v, %v, %v; want NaN", h, f, d, b)
	}
}
