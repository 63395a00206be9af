package server

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

func ppocrJSONBody(tb testing.TB) []byte {
	b, err := json.Marshal(map[string]any{"id": "bench", "inputs": []any{map[string]any{
		"name": "x", "shape": []int{1, 3, 48, 192}, "datatype": "FP32", "data": ppocrValues()}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func ppocrBinaryBody() ([]byte, int) {
	h := []byte(`{"id":"bench","inputs":[{"name":"x","shape":[1,3,48,192],"datatype":"FP32","parameters":{"binary_data_size":` + strconv.Itoa(4*ppocrElements) + `}}]}`)
	body := append([]byte(nil), h...)
	for _, f := range ppocrValues() {
		body = binary.LittleEndian.AppendUint32(body, math.Float32bits(f))
	}
	return body, len(h)
}

func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	body := ppocrJSONBody(t)
	var call inferCall
	if err := decodeInfer(body, -1, &call); err != nil {
		t.Fatal(err)
	}
	want := ppocrValues()
	got := call.req.Inputs[0].Data
	for i, w := range want {
		if g := math.Float32frombits(binary.LittleEndian.Uint32(got[4*i:])); g != w {
			t.Fatalf("element %d: %v, want %v", i, g, w)
		}
	}
}

func TestParseFloatAgreesWithStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	samples := []string{"0", "-0", "1", "0.1", "1e-45", "3.4028235e38", "3.4028236e38", "1.00000005960464477539062", "2.5e-8", "123456789012345678901234567890", "1E5", "0.000001", "-7.006492321624085e-46", "1.401298464324817e-45", "9007199254740993", "16777217"}
	for range 20000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		samples = append(samples, strconv.FormatFloat(f, 'g', -1, 64), strconv.FormatFloat(float64(float32(f)), 'g', -1, 32), strconv.FormatFloat(r.Float64()*1000, 'f', r.IntN(12), 64))
	}
	for _, s := range samples {
		if sc := (&scanner{b: []byte(s)}); func() bool { _, err := sc.number(); return err != nil || sc.i != len(s) }() {
			continue // not a JSON number (Inf), never reaches the parsers
		}
		g32, err32 := parseFloat32([]byte(s))
		w32, werr32 := strconv.ParseFloat(s, 32)
		if (err32 == nil) != (werr32 == nil) || (err32 == nil && g32 != float32(w32)) {
			t.Errorf("parseFloat32(%s) = %v, %v; strconv gives %v, %v", s, g32, err32, float32(w32), werr32)
		}
		g64, err64 := parseFloat64([]byte(s))
		w64, werr64 := strconv.ParseFloat(s, 64)
		if (err64 == nil) != (werr64 == nil) || (err64 == nil && g64 != w64) {
			t.Errorf("parseFloat64(%s) = %v, %v; strconv gives %v, %v", s, g64, err64, w64, werr64)
		}
	}
}

// BenchmarkDecodeJSONReflect is the baseline: encoding/json on the same body.
func BenchmarkDecodeJSONReflect(b *testing.B) {
	body := ppocrJSONBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req struct {
			ID     string `json:"id"`
			Inputs []struct {
				Name     string    `json:"name"`
				Shape    []int64   `json:"shape"`
				DataType string    `json:"datatype"`
				Data     []float32 `json:"data"`
			} `json:"inputs"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	body := ppocrJSONBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var call inferCall
		if err := decodeInfer(body, -1, &call); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSONHeaderFirst sends data after name, shape and
// datatype, as Triton's client writes it, so nothing is parsed twice.
func BenchmarkDecodeJSONHeaderFirst(b *testing.B) {
	data, err := json.Marshal(ppocrValues())
	if err != nil {
		b.Fatal(err)
	}
	body := append([]byte(`{"id":"bench","inputs":[{"name":"x","shape":[1,3,48,192],"datatype":"FP32","data":`), data...)
	body = append(body, "}]}"...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var call inferCall
		if err := decodeInfer(body, -1, &call); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	body, hl := ppocrBinaryBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var call inferCall
		if err := decodeInfer(body, hl, &call); err != nil {
			b.Fatal(err)
		}
	}
}

func ppocrResponse() *tensor.Response {
	var data []byte
	for _, f := range ppocrValues() {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(f))
	}
	return &tensor.Response{ModelName: "ppocr-cls", ModelVersion: "1", ID: "bench",
		Outputs: []tensor.Tensor{{Name: "y", DataType: tensor.FP32, Shape: []int64{1, 3, 48, 192}, Data: data}}}
}

func BenchmarkEncodeJSON(b *testing.B) {
	resp := ppocrResponse()
	call := &inferCall{}
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		out, _ := appendInferResponse(buf[:0], resp, call)
		b.SetBytes(int64(len(out)))
	}
}

func BenchmarkEncodeBinary(b *testing.B) {
	resp := ppocrResponse()
	call := &inferCall{allBinary: true, binary: true}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out, bins := appendInferResponse(buf[:0], resp, call)
		b.SetBytes(int64(len(out) + len(bins[0])))
	}
}

// FuzzDecodeInfer: no body, JSON or binary, makes the decoder panic, and
// whatever it accepts has inputs whose data fits their shapes or fails
// CheckData cleanly.
func FuzzDecodeInfer(f *testing.F) {
	f.Add([]byte(`{"id":"a","inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[[1.5,2]]}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"s","shape":[2],"datatype":"BYTES","data":["a","\u00e9\n"]}],"parameters":{"binary_data_output":true}}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","parameters":{"binary_data_size":1}}]}`+"\x07"), 80)
	f.Add([]byte(`{"inputs":[{"data":[true,false],"name":"b","shape":[2],"datatype":"BOOL"}]}`), -1)
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		var call inferCall
		if err := decodeInfer(body, headerLen, &call); err != nil {
			if tensor.KindOf(err) != tensor.InvalidArgument {
				t.Fatalf("error of kind %v: %v", tensor.KindOf(err), err)
			}
			return
		}
		for i := range call.req.Inputs {
			err := call.req.Inputs[i].CheckData()
			if err != nil && tensor.KindOf(err) != tensor.InvalidArgument {
				t.Fatalf("CheckData error of kind %v", tensor.KindOf(err))
			}
		}
	})
}
