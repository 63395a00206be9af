package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// answering serves one fixed infer answer on a loopback port.
func answering(t *testing.T, body, headerLen string) *client.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if headerLen != "" {
			w.Header().Set("Inference-Header-Content-Length", headerLen)
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return client.New(srv.URL, 1)
}

func output(dt, shape, data string) string {
	return `{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"` + dt + `","shape":` + shape + `,"data":` + data + `}]}`
}

var oneInput = []tensor.Tensor{{Name: "x", DataType: tensor.Bool, Shape: []int64{1}, Data: []byte{1}}}

// The client decodes answers with the server's checks: the old client
// truncated out-of-range integers and read any bool but true as false.
func TestInferRefusesWhatTheServerWouldRefuse(t *testing.T) {
	tests := []struct {
		name, body, headerLen, msg string
	}{
		{"INT8 out of range", output("INT8", "[3]", "[1,2,300]"), "", `output "y": element 2: 300 is not a INT8 (-128 to 127)`},
		{"negative UINT8", output("UINT8", "[1]", "[-1]"), "", `-1 is not a UINT8 (0 to 255)`},
		{"negative UINT64", output("UINT64", "[1]", "[-1]"), "", `-1 is not a UINT64`},
		{"INT32 out of range", output("INT32", "[1]", "[4294967296]"), "", `4294967296 is not a INT32`},
		{"fraction for INT64", output("INT64", "[1]", "[0.5]"), "", `0.5 is not a INT64`},
		{"number for BOOL", output("BOOL", "[2]", "[true,1]"), "", `element 1: expected true or false for BOOL`},
		{"string for BOOL", output("BOOL", "[1]", `["true"]`), "", `expected true or false for BOOL`},
		{"FP16 out of range", output("FP16", "[1]", "[70000]"), "", `70000 is out of FP16 range`},
		{"data short of the shape", output("FP32", "[2]", "[1]"), "", `shape [2] of FP32 needs 8 bytes`},
		{"bad header length", output("FP32", "[1]", "[1]"), "x", `Inference-Header-Content-Length "x" is not a byte count`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := answering(t, tt.body, tt.headerLen)
			resp, err := c.Infer(context.Background(), "m", "", oneInput, client.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Infer = %+v, %v; want an error containing %q", resp, err, tt.msg)
			}
		})
	}
}

// A binary answer's outputs are the client's own: the pooled HTTP
// response they came in is reused by the next call.
func TestInferKeepsBinaryOutputs(t *testing.T) {
	header := `{"model_name":"m","model_version":"2","outputs":[{"name":"y","datatype":"INT16","shape":[2],"parameters":{"binary_data_size":4}}]}`
	c := answering(t, header+"\x01\x00\xff\xff", strconv.Itoa(len(header)))
	resp, err := c.Infer(context.Background(), "m", "", oneInput, client.Options{Binary: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Infer(context.Background(), "m", "", oneInput, client.Options{Binary: true}); err != nil {
		t.Fatal(err)
	}
	if y := resp.Outputs[0]; resp.ModelVersion != "2" || string(y.Data) != "\x01\x00\xff\xff" {
		t.Errorf("got %+v", resp)
	}
}

func TestParseInputs(t *testing.T) {
	ins, err := client.ParseInputs([]byte(`{"inputs":[{"data":[[1,2],[3,4]],"name":"x","shape":[2,2],"datatype":"INT8"},{"name":"s","datatype":"BYTES","shape":[1],"data":["é"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || string(ins[0].Data) != "\x01\x02\x03\x04" || string(ins[1].Data) != "\x02\x00\x00\x00é" {
		t.Errorf("got %+v", ins)
	}
	for _, bad := range []struct{ name, body, msg string }{
		{"out of range", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[128]}]}`, `128 is not a INT8`},
		{"short of the shape", `{"inputs":[{"name":"x","shape":[2],"datatype":"INT8","data":[1]}]}`, `needs 2 bytes (2 elements), got 1 bytes`},
		{"no inputs", `{"inputs":[]}`, `request has no inputs`},
	} {
		if _, err := client.ParseInputs([]byte(bad.body)); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s: %v, want an error containing %q", bad.name, err, bad.msg)
		}
	}
}

func TestPrepareRefusesDataThatDoesNotFitItsShape(t *testing.T) {
	in := []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{2}, Data: make([]byte, 4)}}
	_, err := client.New("http://127.0.0.1:1", 1).Prepare("m", "", in, client.Options{})
	if err == nil || !strings.Contains(err.Error(), `input "x": shape [2] of FP32 needs 8 bytes`) {
		t.Errorf("Prepare = %v, want the shape mismatch named", err)
	}
}
