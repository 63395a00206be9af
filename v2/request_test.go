package v2_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	for name, body := range map[string][]byte{"data first": ppocrJSONBody(t), "header first": ppocrHeaderFirstBody(t)} {
		t.Run(name, func(t *testing.T) {
			var call v2.Call
			if err := v2.DecodeRequest(body, -1, &call); err != nil {
				t.Fatal(err)
			}
			if got := call.Request.Inputs[0].Data; !bytes.Equal(got, ppocrBytes()) {
				t.Fatalf("decoded %d bytes differ from the float32 values encoding/json wrote", len(got))
			}
		})
	}
}

func binaryRequest(header string, blob int) ([]byte, int) {
	return append([]byte(header), make([]byte, blob)...), len(header)
}

func TestDecodeRequestErrors(t *testing.T) {
	fp32 := func(rest string) string {
		return `{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8]` + rest + `}]}`
	}
	sized := fp32(`,"parameters":{"binary_data_size":32}`)
	tests := []struct {
		name      string
		body      string
		headerLen int // -1: JSON
		blob      int // zero bytes after a binary header
		msg       string
	}{
		{"string in FP32 data", fp32(`,"data":[1,2,"x",4,5,6,7,8]`), -1, 0, `input "features": element 2: expected a FP32 number`},
		{"data before datatype", `{"inputs":[{"data":[1,2,3,4,5,6,7,true],"name":"features","datatype":"FP32","shape":[1,8]}]}`, -1, 0, `input "features": element 7: expected a FP32 number`},
		{"no inputs", `{"inputs":[]}`, -1, 0, `request has no inputs`},
		{"malformed JSON", `{"inputs":[{"name":"features",`, -1, 0, `malformed JSON`},
		{"trailing garbage", `{"inputs":[]}}`, -1, 0, `after the JSON value`},
		{"not an object", `[1,2]`, -1, 0, `malformed JSON at byte 0: expected '{'`},
		{"INT8 out of range", `{"inputs":[{"name":"i","datatype":"INT8","shape":[3],"data":[1,2,300]}]}`, -1, 0, `input "i": element 2: 300 is not a INT8 (-128 to 127)`},
		{"fraction for INT64", `{"inputs":[{"name":"i","datatype":"INT64","shape":[3],"data":[1,2.5,3]}]}`, -1, 0, `element 1: 2.5 is not a INT64`},
		{"negative UINT64", `{"inputs":[{"name":"u","datatype":"UINT64","shape":[1],"data":[-1]}]}`, -1, 0, `element 0: -1 is not a UINT64`},
		{"number for BOOL", `{"inputs":[{"name":"b","datatype":"BOOL","shape":[2],"data":[true,1]}]}`, -1, 0, `input "b": element 1: expected true or false for BOOL`},
		{"null for BOOL", `{"inputs":[{"name":"b","datatype":"BOOL","shape":[1],"data":[null]}]}`, -1, 0, `expected true or false for BOOL`},
		{"null for FP32", fp32(`,"data":[1,2,3,null,5,6,7,8]`), -1, 0, `element 3: expected a FP32 number`},
		{"FP16 out of range", `{"inputs":[{"name":"h","datatype":"FP16","shape":[1],"data":[70000]}]}`, -1, 0, `element 0: 70000 is out of FP16 range`},
		{"BF16 out of range", `{"inputs":[{"name":"b","datatype":"BF16","shape":[2],"data":[1,3.4e38]}]}`, -1, 0, `input "b": element 1: 3.4e38 is out of BF16 range`},
		{"BF16 halfway to 2^128", `{"inputs":[{"name":"b","datatype":"BF16","shape":[1],"data":[-3.39617752923046e38]}]}`, -1, 0, `element 0: -3.39617752923046e38 is out of BF16 range`},
		{"BF16 past FP32", `{"inputs":[{"name":"b","datatype":"BF16","shape":[1],"data":[-1e39]}]}`, -1, 0, `element 0: -1e39 is out of BF16 range`},
		{"null for BF16", `{"inputs":[{"name":"b","datatype":"BF16","shape":[1],"data":[null]}]}`, -1, 0, `element 0: expected a BF16 number`},
		{"lower-case bf16", `{"inputs":[{"name":"b","datatype":"bf16","shape":[1],"data":[1]}]}`, -1, 0, `datatype "bf16" is not one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64, BYTES`},
		{"number for BYTES", `{"inputs":[{"name":"s","datatype":"BYTES","shape":[1],"data":[5]}]}`, -1, 0, `input "s": element 0: malformed JSON`},
		{"negative dimension", `{"inputs":[{"name":"x","datatype":"FP32","shape":[-1,8],"data":[]}]}`, -1, 0, `input "x": shape dimension -1 is not a non-negative integer`},
		{"unknown datatype", `{"inputs":[{"name":"x","datatype":"FLOAT","shape":[1],"data":[1]}]}`, -1, 0, `input "x": datatype "FLOAT" is not one of`},
		{"no name", `{"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]}`, -1, 0, `an input has no "name"`},
		{"no datatype", `{"inputs":[{"name":"x","shape":[1],"data":[1]}]}`, -1, 0, `input "x": no "datatype"`},
		{"no shape", `{"inputs":[{"name":"x","datatype":"FP32","data":[1]}]}`, -1, 0, `input "x": no "shape"`},
		{"no data", fp32(``), -1, 0, `input "features": no "data" and no binary_data_size parameter`},
		{"data and binary size", fp32(`,"data":[1],"parameters":{"binary_data_size":0}`), -1, 0, `has both "data" and binary_data_size`},
		{"fractional binary size", fp32(`,"parameters":{"binary_data_size":1.5}`), -1, 0, `binary_data_size must be a non-negative integer, got 1.5`},
		{"output without name", `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{}]}`, -1, 0, `an output has no "name"`},
		{"parameters not an object", `{"inputs":[],"parameters":[1]}`, -1, 0, `"parameters" must be an object`},
		{"binary truncated", sized, len(sized), 20, `input "features": binary_data_size is 32 but only 20 bytes of binary data remain`},
		{"binary too long", sized, len(sized), 40, `binary data has 8 bytes more than the inputs' binary_data_size parameters account for`},
		{"header length past body", `{"inputs":[]}`, 500, 0, `Inference-Header-Content-Length is 500 but the body has only 13 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.headerLen >= 0 {
				body, _ = binaryRequest(tt.body, tt.blob)
			}
			var call v2.Call
			err := v2.DecodeRequest(body, tt.headerLen, &call)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want one containing %q", err, tt.msg)
			}
			if k := tensor.KindOf(err); k != tensor.InvalidArgument {
				t.Errorf("kind %v, want invalid argument", k)
			}
		})
	}
}

// A shape whose byte size overflows int64 once panicked while sizing the
// data buffer; the decoder now refuses it before any buffer is sized.
func TestHugeShapeDoesNotSizeTheBuffer(t *testing.T) {
	var call v2.Call
	body := `{"inputs":[{"name":"x","datatype":"FP32","shape":[2305843009213693952],"data":[1]}]}`
	err := v2.DecodeRequest([]byte(body), -1, &call)
	if tensor.KindOf(err) != tensor.TooLarge || !strings.Contains(err.Error(), "max_elements") {
		t.Errorf("DecodeRequest = %v, want a too-large error naming max_elements", err)
	}
}

func TestBinaryOutputFlags(t *testing.T) {
	tests := []struct {
		name    string
		rest    string
		outputs []tensor.OutputRequest
		binary  bool
	}{
		{"JSON by default", ``, nil, false},
		{"binary_data_output, no outputs listed", `,"parameters":{"binary_data_output":true}`, nil, true},
		{"listed output binary", `,"outputs":[{"name":"a"},{"name":"b","parameters":{"binary_data":true}}]`, []tensor.OutputRequest{{Name: "a"}, {Name: "b", Binary: true}}, true},
		{"own flag beats the default", `,"outputs":[{"name":"a","parameters":{"binary_data":false}},{"name":"b"}],"parameters":{"binary_data_output":true}`, []tensor.OutputRequest{{Name: "a"}, {Name: "b", Binary: true}}, true},
		{"every listed output JSON", `,"outputs":[{"name":"a","parameters":{"binary_data":false}}],"parameters":{"binary_data_output":true}`, []tensor.OutputRequest{{Name: "a"}}, false},
		{"non-bool flag is unset", `,"outputs":[{"name":"a","parameters":{"binary_data":1}}],"parameters":{"binary_data_output":true}`, []tensor.OutputRequest{{Name: "a", Binary: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]` + tt.rest + `}`
			var call v2.Call
			if err := v2.DecodeRequest([]byte(body), -1, &call); err != nil {
				t.Fatal(err)
			}
			if call.Binary() != tt.binary || !slices.Equal(call.Request.Outputs, tt.outputs) {
				t.Errorf("binary %v, outputs %+v; want %v, %+v", call.Binary(), call.Request.Outputs, tt.binary, tt.outputs)
			}
		})
	}
}

// A reused Call decodes each request afresh: nothing of the last call's
// inputs, outputs, parameters or flags shows through.
func TestCallReuse(t *testing.T) {
	var call v2.Call
	first := `{"id":"1","inputs":[{"name":"a","datatype":"INT32","shape":[2],"data":[7,8]},{"name":"b","datatype":"BOOL","shape":[1],"data":[true]}],"outputs":[{"name":"y"}],"parameters":{"binary_data_output":true}}`
	if err := v2.DecodeRequest([]byte(first), -1, &call); err != nil {
		t.Fatal(err)
	}
	second := `{"inputs":[{"name":"a","datatype":"FP64","shape":[1],"data":[2.5]}]}`
	if err := v2.DecodeRequest([]byte(second), -1, &call); err != nil {
		t.Fatal(err)
	}
	r := call.Request
	in := r.Inputs[0]
	if r.ID != "" || len(r.Inputs) != 1 || len(r.Outputs) != 0 || r.Parameters != nil || call.Binary() || call.BinaryOutput {
		t.Fatalf("second call kept something of the first: %+v binary=%v", r, call.Binary())
	}
	if in.Name != "a" || in.DataType != tensor.FP64 || len(in.Shape) != 1 || math.Float64frombits(binary.LittleEndian.Uint64(in.Data)) != 2.5 {
		t.Errorf("second call's input: %+v", in)
	}
	call.Reset()
	if len(call.Request.Inputs) != 0 || call.Request.ID != "" {
		t.Errorf("Reset left %+v", call.Request)
	}
}

// A reused call decodes a new output list into the same array, without
// allocating; its names are interned from the last call's.
func TestReuseKeepsTheOutputsArray(t *testing.T) {
	var call v2.Call
	decode := func(out string) []tensor.OutputRequest {
		body := `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{"name":"` + out + `"}]}`
		if err := v2.DecodeRequest([]byte(body), -1, &call); err != nil {
			t.Fatal(err)
		}
		return call.Request.Outputs
	}
	first := decode("a")
	second := decode("b")
	if &first[0] != &second[0] || second[0].Name != "b" {
		t.Errorf("second call's outputs %+v at %p, want [b] in the first's array %p", second, &second[0], &first[0])
	}
}
