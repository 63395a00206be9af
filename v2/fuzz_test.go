package v2_test

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// requestSeeds are bodies from the codec's and the server's tests, and
// the client encoder's output for every data type in both layouts.
func requestSeeds(f *testing.F) {
	f.Add([]byte(`{"id":"a","inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[[1.5,2]]}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"s","shape":[2],"datatype":"BYTES","data":["a","\u00e9\n"]}],"parameters":{"binary_data_output":true}}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","parameters":{"binary_data_size":1}}]}`+"\x07"), 80)
	f.Add([]byte(`{"inputs":[{"data":[true,false],"name":"b","shape":[2],"datatype":"BOOL"}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"x","datatype":"FP32","shape":[2305843009213693952],"data":[1]}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"h","datatype":"FP16","shape":[3],"data":[65504,-0,6e-8]}],"parameters":{"p":{"q":[1.0,null,"s"]}}}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"b","datatype":"BF16","shape":[2,2],"data":[[3.3895314e38,-0],[9.2e-41,0.1]]}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"b","datatype":"BF16","shape":[2],"parameters":{"binary_data_size":4}}]}`+"\xc0\x7f\x80\xff"), 91)
	f.Add([]byte(`{"inputs":[{"name":"i","datatype":"INT8","shape":[1,3],"data":[1,2,300]}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"x","datatype":"INT8","shape":[1,1,1,1,1,1,1,1,1],"data":[[[[[[[[[1]]]]]]]]]}]}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"x","datatype":"INT8","shape":[0,4294967296,4294967296],"data":[]}]}`), -1)
	f.Add([]byte(`{"inputs":[],"parameters":{"p":`+strings.Repeat("[", 70)+strings.Repeat("]", 70)+`}}`), -1)
	f.Add([]byte(`{"inputs":[{"name":"x","datatype":"INT8","shape":[1],"parameters":{"binary_data_size":1}}]}`+"\x07"), -3)
	body, hl := ppocrBinaryBody()
	f.Add(body[:hl+64], hl)
	for _, inputs := range typeRows() {
		for _, l := range layouts {
			b, hl, err := v2.AppendRequest(nil, &tensor.Request{Inputs: inputs, Outputs: []tensor.OutputRequest{{Name: "y", Binary: true}}}, l.binary)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, hl)
		}
	}
}

// refusal reports whether err is one a bad body may earn: invalid
// argument, or too large for a shape past Limits.MaxElements.
func refusal(err error) bool {
	k := tensor.KindOf(err)
	return k == tensor.InvalidArgument || k == tensor.TooLarge
}

// FuzzDecodeRequest: no body makes the decoder panic or fail with anything
// but invalid argument or too large, and a request it accepts re-encodes, in binary
// always and in JSON when it came as JSON, to a body that decodes to the
// same request (after one pass, which settles NaN and non-UTF-8 strings).
func FuzzDecodeRequest(f *testing.F) {
	requestSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		var call v2.Call
		if err := v2.DecodeRequest(body, headerLen, &call); err != nil {
			if !refusal(err) {
				t.Fatalf("error of kind %v: %v", tensor.KindOf(err), err)
			}
			return
		}
		for i := range call.Request.Inputs {
			if err := call.Request.Inputs[i].CheckData(); err != nil {
				if tensor.KindOf(err) != tensor.InvalidArgument {
					t.Fatalf("CheckData error of kind %v", tensor.KindOf(err))
				}
				return
			}
		}
		reencodeRequest(t, &call, true)
		if headerLen < 0 {
			reencodeRequest(t, &call, false)
		}
	})
}

func reencodeRequest(t *testing.T, call *v2.Call, binary bool) {
	b1 := appendRequest(t, &call.Request, binary)
	var again v2.Call
	if err := v2.DecodeRequest(b1.body, b1.headerLen, &again); err != nil {
		t.Fatalf("binary=%v: re-encoded request does not decode: %v\n%q", binary, err, b1.body)
	}
	if again.Binary() != call.Binary() || !sameOutputs(again.Request.Outputs, call.Request.Outputs) {
		t.Fatalf("binary=%v: outputs %+v (binary %v), were %+v (binary %v)", binary, again.Request.Outputs, again.Binary(), call.Request.Outputs, call.Binary())
	}
	if binary {
		equalData(t, again.Request.Inputs, call.Request.Inputs)
	}
	if b2 := appendRequest(t, &again.Request, binary); !bytes.Equal(b1.body, b2.body) {
		t.Fatalf("binary=%v: encoding is not stable:\n%q\n%q", binary, b1.body, b2.body)
	}
}

// sameOutputs compares requested outputs in order: their binary flags,
// and their names where valid UTF-8; a name that is not is written as code
// points, like BYTES, and only the stable-encoding check covers it.
func sameOutputs(got, want []tensor.OutputRequest) bool {
	return slices.EqualFunc(got, want, func(g, w tensor.OutputRequest) bool {
		return g.Binary == w.Binary && (g.Name == w.Name || !utf8.ValidString(w.Name))
	})
}

// equalData checks that tensors kept their types, shapes and bytes; names
// may change, as JSON strings that are not UTF-8 do.
func equalData(t *testing.T, got, want []tensor.Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.DataType != w.DataType || !tensor.SameShape(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %d: got %v %v %v, want %v %v %v", i, g.DataType, g.Shape, g.Data, w.DataType, w.Shape, w.Data)
		}
	}
}

type encoded struct {
	body      []byte
	headerLen int
}

func appendRequest(t *testing.T, req *tensor.Request, binary bool) encoded {
	b, hl, err := v2.AppendRequest(nil, req, binary)
	if err != nil {
		t.Fatalf("a decoded request does not re-encode: %v", err)
	}
	return encoded{b, hl}
}

func responseSeeds(f *testing.F) {
	f.Add([]byte(`{"model_name":"student-success","model_version":"1","outputs":[{"name":"probability","datatype":"FP32","shape":[1,1],"data":[0.5]},{"name":"label","datatype":"INT64","shape":[1,1],"data":[0]}]}`), -1)
	f.Add([]byte(`{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP16","shape":[2],"data":[null,1]}]}`), -1)
	f.Add([]byte(`{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"BF16","shape":[3],"data":[null,1.00390625,-3.3895314e38]}]}`), -1)
	f.Add([]byte(`{"outputs":[{"name":"y","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]}`+"\x09\x00\x00\x00ab"), 91)
	f.Add([]byte(`{"error":"model not ready"}`), -1)
	for _, outputs := range typeRows() {
		for _, l := range layouts {
			b, hl := v2.AppendResponse(nil, &tensor.Response{ModelName: "m", ModelVersion: "1", ID: "i", Outputs: outputs}, binaryCall(f, l.binary))
			f.Add(b, hl)
		}
	}
}

// FuzzDecodeResponse: no body makes the client's decoder panic or fail
// with anything but invalid argument or too large, and a response it accepts re-encodes
// in both layouts to a body that decodes to the same response.
func FuzzDecodeResponse(f *testing.F) {
	responseSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		r, err := v2.DecodeResponse(body, headerLen)
		if err != nil {
			if !refusal(err) {
				t.Fatalf("error of kind %v: %v", tensor.KindOf(err), err)
			}
			return
		}
		for _, l := range layouts {
			call := binaryCall(t, l.binary)
			b1, hl1 := v2.AppendResponse(nil, r, call)
			again, err := v2.DecodeResponse(b1, hl1)
			if err != nil {
				t.Fatalf("binary=%v: re-encoded response does not decode: %v\n%q", l.binary, err, b1)
			}
			if l.binary {
				equalData(t, again.Outputs, r.Outputs)
			}
			if b2, _ := v2.AppendResponse(nil, again, call); !bytes.Equal(b1, b2) {
				t.Fatalf("binary=%v: encoding is not stable:\n%q\n%q", l.binary, b1, b2)
			}
		}
	})
}

// binaryCall is a call that asked for every output binary, or every JSON.
func binaryCall(tb testing.TB, binary bool) *v2.Call {
	body := `{"inputs":[{"name":"x","datatype":"BOOL","shape":[1],"data":[true]}],"parameters":{"binary_data_output":` + strconv.FormatBool(binary) + `}}`
	var call v2.Call
	if err := v2.DecodeRequest([]byte(body), -1, &call); err != nil {
		tb.Fatal(err)
	}
	return &call
}
