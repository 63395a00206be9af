package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/server"
)

func binBody(header string, blob []byte) []byte { return append([]byte(header), blob...) }

func binHdr(header string) map[string]string {
	return map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(header))}
}

func featureInput(shape []int, data any) map[string]any {
	return map[string]any{"name": "features", "datatype": "FP32", "shape": shape, "data": data}
}

func TestBadInputsAnswer4xxWithAMessage(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.MaxBodyBytes = 1 << 20
	s := startServer(t, cfg, "student-success", "alltypes")
	eight := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	js := func(v any) []byte { return mustJSON(t, v) }
	ss := "/v2/models/student-success/infer"
	tests := []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		msg    string
	}{
		{"wrong input name", ss, js(map[string]any{"inputs": []any{map[string]any{"name": "feats", "datatype": "FP32", "shape": []int{1, 8}, "data": eight}}}), nil, 400, `input "feats": model "student-success" has no such input; its inputs are "features"`},
		{"wrong rank", ss, js(map[string]any{"inputs": []any{featureInput([]int{8}, eight)}}), nil, 400, `shape [8] has 1 dimensions, model expects 2 ([-1,8])`},
		{"wrong dimension", ss, js(map[string]any{"inputs": []any{featureInput([]int{2, 4}, eight)}}), nil, 400, `dimension 1 is 4, model expects 8 ([-1,8])`},
		{"zero dimension", ss, js(map[string]any{"inputs": []any{featureInput([]int{0, 8}, []float32{})}}), nil, 400, `dimension 0 is 0, expected a positive size`},
		{"negative dimension", ss, js(map[string]any{"inputs": []any{featureInput([]int{-1, 8}, eight)}}), nil, 400, `shape dimension -1 is not a non-negative integer`},
		{"wrong datatype", ss, js(map[string]any{"inputs": []any{map[string]any{"name": "features", "datatype": "FP64", "shape": []int{1, 8}, "data": eight}}}), nil, 400, `datatype FP64, model expects FP32`},
		{"unknown datatype", ss, js(map[string]any{"inputs": []any{map[string]any{"name": "features", "datatype": "FLOAT", "shape": []int{1, 8}, "data": eight}}}), nil, 400, `datatype "FLOAT" is not one of`},
		{"too few elements", ss, js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, eight[:7])}}), nil, 400, `shape [1,8] of FP32 needs 32 bytes (8 elements), got 28 bytes`},
		{"too many elements", ss, js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, append(eight, 9))}}), nil, 400, `needs 32 bytes (8 elements), got 36 bytes`},
		{"string in FP32 data", ss, []byte(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"data":[1,2,"x",4,5,6,7,8]}]}`), nil, 400, `input "features": element 2: expected a FP32 number`},
		{"data before datatype", ss, []byte(`{"inputs":[{"data":[1,2,3,4,5,6,7,true],"name":"features","datatype":"FP32","shape":[1,8]}]}`), nil, 400, `element 7: expected a FP32 number`},
		{"no inputs", ss, []byte(`{"inputs":[]}`), nil, 400, `request has no inputs`},
		{"missing input", "/v2/models/alltypes/infer", js(map[string]any{"inputs": []any{map[string]any{"name": "in_bool", "datatype": "BOOL", "shape": []int{1, 3}, "data": []bool{true, false, true}}}}), nil, 400, `input "in_uint8": missing; model "alltypes" expects it (UINT8 [-1,3])`},
		{"input twice", ss, js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, eight), featureInput([]int{1, 8}, eight)}}), nil, 400, `input "features": given twice`},
		{"no data", ss, js(map[string]any{"inputs": []any{map[string]any{"name": "features", "datatype": "FP32", "shape": []int{1, 8}}}}), nil, 400, `no "data" and no binary_data_size`},
		{"unknown output", ss, js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, eight)}, "outputs": []any{map[string]any{"name": "logits"}}}), nil, 400, `output "logits": model "student-success" has no such output; its outputs are "probability", "label"`},
		{"malformed JSON", ss, []byte(`{"inputs":[{"name":"features",`), nil, 400, `malformed JSON`},
		{"trailing garbage", ss, append(js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, eight)}}), '}'), nil, 400, `after the JSON value`},
		{"not an object", ss, []byte(`[1,2]`), nil, 400, `malformed JSON at byte 0: expected '{'`},
		{"INT8 out of range", "/v2/models/alltypes/infer", []byte(`{"inputs":[{"name":"in_int8","datatype":"INT8","shape":[1,3],"data":[1,2,300]}]}`), nil, 400, `element 2: 300 is not a INT8 (-128 to 127)`},
		{"fraction for INT64", "/v2/models/alltypes/infer", []byte(`{"inputs":[{"name":"in_int64","datatype":"INT64","shape":[1,3],"data":[1,2.5,3]}]}`), nil, 400, `element 1: 2.5 is not a INT64`},
		{"batch sizes differ", "/v2/models/alltypes/infer", []byte(`{"inputs":[{"name":"in_int8","datatype":"INT8","shape":[1,3],"data":[1,2,3]},{"name":"in_uint8","datatype":"UINT8","shape":[2,3],"data":[1,2,3,4,5,6]}]}`), nil, 400, `batch size`},
		{"binary truncated", ss, binBody(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"parameters":{"binary_data_size":32}}]}`, make([]byte, 20)), binHdr(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"parameters":{"binary_data_size":32}}]}`), 400, `binary_data_size is 32 but only 20 bytes of binary data remain`},
		{"binary too long", ss, binBody(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"parameters":{"binary_data_size":32}}]}`, make([]byte, 40)), binHdr(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"parameters":{"binary_data_size":32}}]}`), 400, `binary data has 8 bytes more`},
		{"binary size wrong for shape", ss, binBody(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"parameters":{"binary_data_size":28}}]}`, make([]byte, 28)), binHdr(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"parameters":{"binary_data_size":28}}]}`), 400, `needs 32 bytes (8 elements), got 28 bytes`},
		{"header length past body", ss, []byte(`{"inputs":[]}`), map[string]string{"Inference-Header-Content-Length": "500"}, 400, `Inference-Header-Content-Length is 500 but the body has only 13 bytes`},
		{"bad BYTES prefix", "/v2/models/alltypes/infer", binBody(`{"inputs":[{"name":"in_string","datatype":"BYTES","shape":[1,3],"parameters":{"binary_data_size":6}}]}`, []byte{9, 0, 0, 0, 'a', 'b'}), binHdr(`{"inputs":[{"name":"in_string","datatype":"BYTES","shape":[1,3],"parameters":{"binary_data_size":6}}]}`), 400, `BYTES element 0: length 9 runs past the 2 bytes left`},
		{"unknown model", "/v2/models/nope/infer", js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, eight)}}), nil, 404, `model "nope" not found`},
		{"unknown version", "/v2/models/student-success/versions/7/infer", js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, eight)}}), nil, 404, `version 7 not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := s.do(t, "POST", tt.path, tt.body, tt.hdr)
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if status != tt.status || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("got %d %q\nwant %d containing %q", status, e.Error, tt.status, tt.msg)
			}
		})
	}
	// An oversize body is refused from its Content-Length, before it is
	// read. fasthttp hands a streamed request to the handler once the
	// body's first 8 KB are in, so a raw connection sends that much and
	// no more, and the answer can be read without racing the server's close.
	t.Run("oversize body", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", ss, 2<<20, strings.Repeat("x", 8<<10))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || !strings.Contains(string(body), "larger than server.max_body_bytes") {
			t.Errorf("got %d %s, want 413", resp.StatusCode, body)
		}
	})
	// After all that, the server still serves.
	status, _, body := s.do(t, "POST", ss, js(map[string]any{"inputs": []any{featureInput([]int{1, 8}, eight)}}), nil)
	if status != 200 {
		t.Errorf("good request after bad ones: %d %s", status, body)
	}
}
