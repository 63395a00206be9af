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

// BF16 elements go out as the shortest decimal that reads back to the same
// float32, and NaN and the infinities as null.
func TestBF16EncodesAsJSONNumbers(t *testing.T) {
	out := tensor.Tensor{Name: "y", DataType: tensor.BF16, Shape: []int64{9},
		Data: le[uint16](0x3f80, 0xc000, 0x3dcd, 0x7f7f, 0x0001, 0x83ba, 0x8000, 0x7fc0, 0xff80)}
	body, hl := v2.AppendResponse(nil, &tensor.Response{ModelName: "m", ModelVersion: "1", Outputs: []tensor.Tensor{out}}, nil)
	want := `{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"BF16","shape":[9],"data":[1,-2,0.100097656,3.3895314e+38,9.1835e-41,-1.09320975e-36,-0,null,null]}]}`
	if hl != -1 || string(body) != want {
		t.Errorf("got %d\n%s\nwant\n%s", hl, body, want)
	}
}

// JSON numbers round to the nearest bfloat16 (ties to even), on the fast
// path and the general one alike, without a detour through float32.
func TestBF16DecodesJSONNumbers(t *testing.T) {
	tests := []struct {
		num  string
		want uint16
	}{
		{"1", 0x3f80},
		{"-2.0", 0xc000},
		{"0.1", 0x3dcd},           // fast path, rounds up
		{"0.10009765625", 0x3dcd}, // exact
		{"1.00390625", 0x3f80},    // a tie, to even: down
		{"1.01171875", 0x3f82},    // a tie, to even: up
		{"1.0039063", 0x3f81},     // just past the tie
		{"3.3895314e38", 0x7f7f},  // the largest, general path
		{"-3.3895313892515355e38", 0xff7f},
		{"3.3961775e38", 0x7f7f}, // just under halfway to 2^128
		{"338953138925153547590470800371487866880", 0x7f7f},
		{"1e-40", 0x0001}, // subnormal
		{"9.1835e-41", 0x0001},
		{"1e-50", 0x0000}, // underflows to zero
		{"-1e-50", 0x8000},
		{"-0", 0x8000},
		{"65504", 0x4780}, // FP16's limit is not BF16's: rounds up to 65536
		{"1e30", 0x714a},
		{"1.0039062500000002", 0x3f81}, // float32 would round it onto the tie
	}
	for _, tt := range tests {
		t.Run(tt.num, func(t *testing.T) {
			body := `{"inputs":[{"name":"b","datatype":"BF16","shape":[1],"data":[` + tt.num + `]}]}`
			var call v2.Call
			if err := v2.DecodeRequest([]byte(body), -1, &call); err != nil {
				t.Fatal(err)
			}
			in := call.Request.Inputs[0]
			if in.DataType != tensor.BF16 || len(in.Data) != 2 {
				t.Fatalf("decoded %v with %d bytes", in.DataType, len(in.Data))
			}
			if got := binary.LittleEndian.Uint16(in.Data); got != tt.want {
				t.Errorf("%s decoded as %#04x, want %#04x", tt.num, got, tt.want)
			}
		})
	}
}

// Every finite bfloat16 value survives JSON both ways, in a request and a
// response; in binary the bytes go through untouched, NaNs included.
func TestEveryBF16RoundTrips(t *testing.T) {
	var finite, all []byte
	for h := range 1 << 16 {
		all = binary.LittleEndian.AppendUint16(all, uint16(h))
		if f := float64(tensor.Float32FromBFloat16(uint16(h))); !math.IsNaN(f) && !math.IsInf(f, 0) {
			finite = binary.LittleEndian.AppendUint16(finite, uint16(h))
		}
	}
	bf := func(data []byte) []tensor.Tensor {
		return []tensor.Tensor{{Name: "b", DataType: tensor.BF16, Shape: []int64{int64(len(data) / 2)}, Data: data}}
	}
	for _, l := range layouts {
		data := finite
		if l.binary {
			data = all
		}
		t.Run("request/"+l.name, func(t *testing.T) {
			req := &tensor.Request{Inputs: bf(data)}
			body, hl, err := v2.AppendRequest(nil, req, l.binary)
			if err != nil {
				t.Fatal(err)
			}
			var call v2.Call
			if err := v2.DecodeRequest(body, hl, &call); err != nil {
				t.Fatal(err)
			}
			equalData(t, call.Request.Inputs, req.Inputs)
		})
		t.Run("response/"+l.name, func(t *testing.T) {
			resp := &tensor.Response{ModelName: "m", ModelVersion: "1", Outputs: bf(data)}
			body, hl := v2.AppendResponse(nil, resp, binaryCall(t, l.binary))
			if !l.binary && len(body) > 16*len(data)/2+200 {
				t.Errorf("%d bytes of JSON for %d elements: more than 16 each", len(body), len(data)/2)
			}
			got, err := v2.DecodeResponse(body, hl)
			if err != nil {
				t.Fatal(err)
			}
			equalData(t, got.Outputs, resp.Outputs)
		})
	}
}

// A binary BF16 input is taken as raw 2-byte elements; its size must be
// twice the element count.
func TestBF16BinaryInput(t *testing.T) {
	header := `{"inputs":[{"name":"b","datatype":"BF16","shape":[1,2],"parameters":{"binary_data_size":4}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}`
	body := append([]byte(header), 0x80, 0x3f, 0xc0, 0x7f)
	var call v2.Call
	if err := v2.DecodeRequest(body, len(header), &call); err != nil {
		t.Fatal(err)
	}
	in := call.Request.Inputs[0]
	if in.DataType != tensor.BF16 || string(in.Data) != "\x80\x3f\xc0\x7f" || in.CheckData() != nil {
		t.Errorf("input %v %v %x (%v)", in.DataType, in.Shape, in.Data, in.CheckData())
	}
	in.Shape = []int64{1, 3}
	if err := in.CheckData(); err == nil || !strings.Contains(err.Error(), "shape [1,3] of BF16 needs 6 bytes (3 elements), got 4 bytes") {
		t.Errorf("CheckData with one element short: %v", err)
	}
	short := `{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"BF16","shape":[2],"parameters":{"binary_data_size":3}}]}`
	_, err := v2.DecodeResponse(append([]byte(short), 1, 2, 3), len(short))
	if err == nil || !strings.Contains(err.Error(), "shape [2] of BF16 needs 4 bytes (2 elements), got 3 bytes") {
		t.Errorf("a response with an odd byte: %v", err)
	}
}

// A reused Call decodes a JSON BF16 tensor without allocating, as it does
// FP32 (TestAllocationBudget).
func TestBF16DecodeDoesNotAllocate(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"inputs":[{"name":"b","datatype":"BF16","shape":[1024],"data":[`)
	for i := range 1024 {
		if i > 0 {
			b.WriteByte(',')
		}
		f := tensor.Float32FromBFloat16(uint16(0x3c00 + 5*i))
		b.WriteString(strconv.FormatFloat(float64(f), 'g', -1, 32))
	}
	b.WriteString(`]}]}`)
	body := []byte(b.String())
	var call v2.Call
	buf := make([]byte, 0, 1<<16)
	op := func() {
		if err := v2.DecodeRequest(body, -1, &call); err != nil {
			t.Fatal(err)
		}
		resp := tensor.Response{ModelName: "m", ModelVersion: "1", Outputs: call.Request.Inputs}
		buf, _ = v2.AppendResponse(buf[:0], &resp, &call)
	}
	op()
	if n := testing.AllocsPerRun(50, op); n > 0 {
		t.Errorf("%v allocations per decode and encode", n)
	}
}
