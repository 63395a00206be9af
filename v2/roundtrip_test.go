package v2_test

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// layouts are the two wire forms of tensor data.
var layouts = []struct {
	name   string
	binary bool
}{{"json", false}, {"binary", true}}

// typeRows is one row per data type, and one with every type at once, so
// the binary sections of several tensors follow each other.
func typeRows() map[string][]tensor.Tensor {
	all := everyType()
	rows := map[string][]tensor.Tensor{"all types": all}
	for i := range all {
		rows[all[i].DataType.String()] = all[i : i+1]
	}
	return rows
}

// The client's request encoder and the server's request decoder agree on
// every data type, in JSON and binary.
func TestRequestRoundTripsEveryType(t *testing.T) {
	for name, inputs := range typeRows() {
		for _, l := range layouts {
			t.Run(name+"/"+l.name, func(t *testing.T) {
				req := &tensor.Request{ID: "rt-1", Inputs: inputs,
					Outputs:    []tensor.OutputRequest{{Name: "y", Binary: l.binary}, {Name: "z", Binary: !l.binary}},
					Parameters: tensor.Parameters{"binary_data_output": l.binary, "priority": int64(2), "timeout": 1.0, "tag": "a\"b", "nested": tensor.Parameters{"list": []any{"x", int64(-1), 0.5, false, nil}}}}
				body, hl, err := v2.AppendRequest(nil, req, l.binary)
				if err != nil {
					t.Fatal(err)
				}
				if (hl >= 0) != l.binary {
					t.Fatalf("headerLen %d for binary=%v", hl, l.binary)
				}
				var call v2.Call
				if err := v2.DecodeRequest(body, hl, &call); err != nil {
					t.Fatalf("decoding %s: %v", body[:min(len(body), 400)], err)
				}
				got := &call.Request
				if got.ID != req.ID || !reflect.DeepEqual(got.Parameters, req.Parameters) || !slices.Equal(got.Outputs, req.Outputs) {
					t.Errorf("request fields: got %+v, want %+v", got, req)
				}
				equalTensors(t, got.Inputs, req.Inputs)
			})
		}
	}
}

// The server's response encoder and the client's response decoder agree on
// every data type, in JSON and binary.
func TestResponseRoundTripsEveryType(t *testing.T) {
	for name, outputs := range typeRows() {
		for _, l := range layouts {
			t.Run(name+"/"+l.name, func(t *testing.T) {
				call := binaryCall(t, l.binary)
				resp := &tensor.Response{ModelName: "alltypes", ModelVersion: "3", ID: "rt-2", Outputs: outputs}
				body, hl := v2.AppendResponse(nil, resp, call)
				if (hl >= 0) != l.binary {
					t.Fatalf("headerLen %d for binary=%v", hl, l.binary)
				}
				got, err := v2.DecodeResponse(body, hl)
				if err != nil {
					t.Fatalf("decoding %s: %v", body[:min(len(body), 400)], err)
				}
				if got.ModelName != resp.ModelName || got.ModelVersion != resp.ModelVersion || got.ID != resp.ID {
					t.Errorf("response fields: got %+v, want %+v", got, resp)
				}
				equalTensors(t, got.Outputs, resp.Outputs)
			})
		}
	}
}

func equalTensors(t *testing.T, got, want []tensor.Tensor) {
	t.Helper()
	equalData(t, got, want)
	for i := range want {
		if got[i].Name != want[i].Name {
			t.Errorf("tensor %d: named %q, want %q", i, got[i].Name, want[i].Name)
		}
	}
}

// A response may list outputs in another order than the request asked for
// them; each still takes its own layout.
func TestResponseLayoutFollowsOutputNames(t *testing.T) {
	body := `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{"name":"a","parameters":{"binary_data":true}},{"name":"b"}]}`
	var call v2.Call
	if err := v2.DecodeRequest([]byte(body), -1, &call); err != nil {
		t.Fatal(err)
	}
	outs := everyType()[1:3]
	outs[0].Name, outs[1].Name = "b", "a"
	out, hl := v2.AppendResponse(nil, &tensor.Response{ModelName: "m", ModelVersion: "1", Outputs: outs}, &call)
	want := `{"model_name":"m","model_version":"1","outputs":[{"name":"b","datatype":"UINT8","shape":[2,3],"data":[0,1,127,128,200,255]},{"name":"a","datatype":"UINT16","shape":[2,3],"parameters":{"binary_data_size":12}}]}`
	if hl < 0 || string(out[:hl]) != want || !bytes.Equal(out[hl:], outs[1].Data) {
		t.Errorf("got header %d:\n%s\nwant\n%s", hl, out, want)
	}
}
