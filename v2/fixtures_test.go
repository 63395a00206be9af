package v2_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sluice-serving/sluice/tensor"
)

// ppocrElements is one PP-OCR crop: 3x48x192 FP32.
const ppocrElements = 3 * 48 * 192

func ppocrValues() []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, ppocrElements)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

func ppocrBytes() []byte {
	var data []byte
	for _, f := range ppocrValues() {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(f))
	}
	return data
}

// ppocrJSONBody is written by encoding/json, whose key order (data before
// datatype) makes the decoder defer the data.
func ppocrJSONBody(tb testing.TB) []byte {
	b, err := json.Marshal(map[string]any{"id": "bench", "inputs": []any{map[string]any{
		"name": "x", "shape": []int{1, 3, 48, 192}, "datatype": "FP32", "data": ppocrValues()}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ppocrHeaderFirstBody sends data after name, shape and datatype, as
// Triton's client writes it, so nothing is parsed twice.
func ppocrHeaderFirstBody(tb testing.TB) []byte {
	data, err := json.Marshal(ppocrValues())
	if err != nil {
		tb.Fatal(err)
	}
	body := append([]byte(`{"id":"bench","inputs":[{"name":"x","shape":[1,3,48,192],"datatype":"FP32","data":`), data...)
	return append(body, "}]}"...)
}

func ppocrBinaryBody() ([]byte, int) {
	h := []byte(`{"id":"bench","inputs":[{"name":"x","shape":[1,3,48,192],"datatype":"FP32","parameters":{"binary_data_size":` + strconv.Itoa(4*ppocrElements) + `}}]}`)
	return append(h, ppocrBytes()...), len(h)
}

func ppocrResponse() *tensor.Response {
	return &tensor.Response{ModelName: "ppocr-cls", ModelVersion: "1", ID: "bench",
		Outputs: []tensor.Tensor{{Name: "y", DataType: tensor.FP32, Shape: []int64{1, 3, 48, 192}, Data: ppocrBytes()}}}
}

// le writes values as little-endian bytes.
func le[T any](vs ...T) []byte {
	out, err := binary.Append(nil, binary.LittleEndian, vs)
	if err != nil {
		panic(err)
	}
	return out
}

func halfs(fs ...float32) []byte {
	var out []byte
	for _, f := range fs {
		out = binary.LittleEndian.AppendUint16(out, tensor.HalfFromFloat32(f))
	}
	return out
}

// bf16s writes values rounded to bfloat16.
func bf16s(fs ...float32) []byte {
	var out []byte
	for _, f := range fs {
		out = binary.LittleEndian.AppendUint16(out, tensor.BFloat16FromFloat32(f))
	}
	return out
}

func byteStrings(ss ...string) []byte {
	var out []byte
	for _, s := range ss {
		out = tensor.AppendBytesElement(out, []byte(s))
	}
	return out
}

// everyType is one tensor of six elements, shape [2,3], per data type,
// each holding its type's extremes.
func everyType() []tensor.Tensor {
	data := []struct {
		dt tensor.DataType
		b  []byte
	}{
		{tensor.Bool, []byte{1, 0, 1, 0, 0, 1}},
		{tensor.Uint8, []byte{0, 1, 127, 128, 200, 255}},
		{tensor.Uint16, le[uint16](0, 1, 300, 40000, 65534, 65535)},
		{tensor.Uint32, le[uint32](0, 1, 70000, 1<<31, 4294967294, 4294967295)},
		{tensor.Uint64, le[uint64](0, 1, 1<<40, 1<<63, math.MaxUint64-1, math.MaxUint64)},
		{tensor.Int8, le[int8](-128, -1, 0, 1, 100, 127)},
		{tensor.Int16, le[int16](-32768, -1, 0, 1, 1000, 32767)},
		{tensor.Int32, le[int32](math.MinInt32, -1, 0, 1, 123456, math.MaxInt32)},
		{tensor.Int64, le[int64](math.MinInt64, -1, 0, 1, 1<<53+1, math.MaxInt64)},
		{tensor.FP16, halfs(0.5, -2, 65504, 6.103515625e-05, 5.960464477539063e-08, float32(math.Copysign(0, -1)))},
		{tensor.FP32, le[float32](0.1, -1.5, math.MaxFloat32, 1e-45, 3.14159265, float32(math.Copysign(0, -1)))},
		{tensor.FP64, le[float64](0.1, -2.5, math.MaxFloat64, 5e-324, math.Pi, 0)},
		{tensor.Bytes, byteStrings("hello", "", "ünïcødé", `quote" and \ back`, "tab\tnew\nline\x01", "\U0001F600")},
		// 0.1 rounded, the largest, the smallest subnormal, the widest in
		// JSON (-1.09320975e-36), the smallest normal, -0.
		{tensor.BF16, le[uint16](0x3dcd, 0x7f7f, 0x0001, 0x83ba, 0x0080, 0x8000)},
	}
	out := make([]tensor.Tensor, len(data))
	for i, d := range data {
		out[i] = tensor.Tensor{Name: "t_" + d.dt.String(), DataType: d.dt, Shape: []int64{2, 3}, Data: d.b}
	}
	return out
}
