package server_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-serving/sluice/server"
)

func ppocrInput(rows int, fill func(i int) float32) map[string]any {
	data := make([]float32, rows*3*48*192)
	for i := range data {
		data[i] = fill(i)
	}
	return map[string]any{"name": "x", "shape": []int{rows, 3, 48, 192}, "datatype": "FP32", "data": data}
}

func TestEndpoints(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "ppocr-cls", "student-success")
	tests := []struct {
		name, method, path string
		status             int
		contains           string
	}{
		{"live", "GET", "/v2/health/live", 200, `"live":true`},
		{"ready", "GET", "/v2/health/ready", 200, `"ready":true`},
		{"server metadata", "GET", "/v2", 200, `"binary_tensor_data"`},
		{"model metadata", "GET", "/v2/models/ppocr-cls", 200, `"shape":[-1,3,48,192]`},
		{"versioned metadata", "GET", "/v2/models/student-success/versions/1", 200, `"versions":["1"]`},
		{"all versions listed", "GET", "/v2/models/student-success", 200, `"versions":["1","2"]`},
		{"model ready", "GET", "/v2/models/ppocr-cls/ready", 200, `"ready":true`},
		{"version ready", "GET", "/v2/models/ppocr-cls/versions/1/ready", 200, `"ready":true`},
		{"unknown model", "GET", "/v2/models/nope", 404, `model \"nope\" not found`},
		{"unknown model ready", "GET", "/v2/models/nope/ready", 404, `not found`},
		{"unknown version", "GET", "/v2/models/ppocr-cls/versions/9", 404, `version 9 not found`},
		{"bad version", "GET", "/v2/models/ppocr-cls/versions/abc/ready", 404, `positive integers`},
		{"unknown path", "GET", "/v3/whatever", 404, `no endpoint`},
		{"infer by GET", "GET", "/v2/models/ppocr-cls/infer", 405, `use POST`},
		{"metadata by POST", "POST", "/v2/models/ppocr-cls", 405, `use GET`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := s.do(t, tt.method, tt.path, nil, nil)
			if status != tt.status || !strings.Contains(string(body), tt.contains) {
				t.Errorf("%s %s = %d %s, want %d containing %s", tt.method, tt.path, status, body, tt.status, tt.contains)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if status >= 400 {
				var e map[string]string
				if json.Unmarshal(body, &e) != nil || e["error"] == "" {
					t.Errorf("error body %s is not {\"error\": ...}", body)
				}
			}
		})
	}
}

func TestInferPPOCRJSON(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "ppocr-cls")
	req := map[string]any{"id": "req-7", "inputs": []any{ppocrInput(2, func(i int) float32 { return float32(i%97) / 97 })}, "parameters": map[string]any{"note": "x"}}
	status, _, body := s.do(t, "POST", "/v2/models/ppocr-cls/infer", mustJSON(t, req), nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	r := decodeJSON[inferResponse](t, body)
	if r.ModelName != "ppocr-cls" || r.ModelVersion != "1" || r.ID != "req-7" {
		t.Errorf("response header = %+v", r)
	}
	if len(r.Outputs) != 1 || r.Outputs[0].Name != "softmax_0.tmp_0" || fmt.Sprint(r.Outputs[0].Shape) != "[2 2]" {
		t.Fatalf("outputs = %+v", r.Outputs)
	}
	for row := range 2 {
		a, _ := r.Outputs[0].Data[2*row].(json.Number).Float64()
		b, _ := r.Outputs[0].Data[2*row+1].(json.Number).Float64()
		if math.Abs(a+b-1) > 1e-4 {
			t.Errorf("row %d: %v + %v != 1", row, a, b)
		}
	}
}

// binaryBody builds a Triton binary-tensor request body.
func binaryBody(t testing.TB, header map[string]any, blobs ...[]byte) ([]byte, map[string]string) {
	h := mustJSON(t, header)
	body := append([]byte(nil), h...)
	for _, b := range blobs {
		body = append(body, b...)
	}
	return body, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(h)), "Content-Type": "application/octet-stream"}
}

func fp32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// splitBinary splits a binary response into its JSON header and the rest.
func splitBinary(t testing.TB, hdr map[string][]string, body []byte) (inferResponse, []byte) {
	t.Helper()
	n, err := strconv.Atoi(strings.Join(hdr["Inference-Header-Content-Length"], ""))
	if err != nil || n > len(body) {
		t.Fatalf("bad Inference-Header-Content-Length %v for %d bytes", hdr["Inference-Header-Content-Length"], len(body))
	}
	return decodeJSON[inferResponse](t, body[:n]), body[n:]
}

func TestInferPPOCRBinaryMatchesJSON(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "ppocr-cls")
	fill := func(i int) float32 { return float32(math.Sin(float64(i))) }
	in := ppocrInput(1, fill)
	_, _, jbody := s.do(t, "POST", "/v2/models/ppocr-cls/infer", mustJSON(t, map[string]any{"inputs": []any{in}}), nil)
	want := decodeJSON[inferResponse](t, jbody).Outputs[0].Data

	data := in["data"].([]float32)
	body, hdr := binaryBody(t, map[string]any{
		"inputs":  []any{map[string]any{"name": "x", "shape": []int{1, 3, 48, 192}, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": 4 * len(data)}}},
		"outputs": []any{map[string]any{"name": "softmax_0.tmp_0", "parameters": map[string]any{"binary_data": true}}},
	}, fp32Bytes(data))
	status, rh, rbody := s.do(t, "POST", "/v2/models/ppocr-cls/infer", body, hdr)
	if status != 200 {
		t.Fatalf("status %d: %s", status, rbody)
	}
	r, bin := splitBinary(t, rh, rbody)
	if got := r.Outputs[0].Parameters["binary_data_size"]; fmt.Sprint(got) != "8" || len(bin) != 8 {
		t.Fatalf("binary_data_size %v with %d bytes, want 8", got, len(bin))
	}
	for i := range 2 {
		w, _ := want[i].(json.Number).Float64()
		g := math.Float32frombits(binary.LittleEndian.Uint32(bin[4*i:]))
		if float32(w) != g {
			t.Errorf("element %d: binary %v, JSON %v", i, g, w)
		}
	}
}

func TestConcurrentClientsGetTheirOwnResults(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "student-success")
	const clients = 64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			rows := 1 + c%4
			feats := make([]float32, rows*8)
			for i := range feats {
				feats[i] = float32(c-32) / 8 * float32(i%8-3)
			}
			body, _ := json.Marshal(map[string]any{"id": strconv.Itoa(c), "inputs": []any{map[string]any{"name": "features", "shape": []int{rows, 8}, "datatype": "FP32", "data": feats}}})
			status, _, answer, err := s.try("POST", "/v2/models/student-success/infer", body, nil)
			var r inferResponse
			if err == nil {
				err = json.Unmarshal(answer, &r)
			}
			if err != nil || status != 200 || r.ID != strconv.Itoa(c) || len(r.Outputs) == 0 || r.Outputs[0].Shape[0] != int64(rows) {
				errs <- fmt.Errorf("client %d: status %d %s %v", c, status, answer, err)
				return
			}
			// Sending the same rows again, alone, gives the same answer.
			_, _, again, err := s.try("POST", "/v2/models/student-success/infer", body, nil)
			if err != nil || string(again) != string(answer) {
				errs <- fmt.Errorf("client %d: answers differ (%v):\n%s\n%s", c, err, answer, again)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
