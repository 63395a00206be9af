package v2_test

import (
	"encoding/json"
	"testing"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// benchBoth runs one operation serially and under RunParallel; newOp gives
// each goroutine its own state (a Call, a buffer) as the server's pools do.
func benchBoth(b *testing.B, size int, newOp func() func() error) {
	run := func(b *testing.B, loop func(op func() error)) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		loop(newOp())
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	}
	b.Run("serial", func(b *testing.B) {
		run(b, func(op func() error) {
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("parallel", func(b *testing.B) {
		run(b, func(func() error) {
			b.RunParallel(func(pb *testing.PB) {
				op := newOp()
				for pb.Next() {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
}

// BenchmarkDecodeJSONReflect is the baseline: encoding/json on the same body.
func BenchmarkDecodeJSONReflect(b *testing.B) {
	body := ppocrJSONBody(b)
	benchBoth(b, len(body), func() func() error {
		return func() error {
			var req struct {
				ID     string `json:"id"`
				Inputs []struct {
					Name     string    `json:"name"`
					Shape    []int64   `json:"shape"`
					DataType string    `json:"datatype"`
					Data     []float32 `json:"data"`
				} `json:"inputs"`
			}
			return json.Unmarshal(body, &req)
		}
	})
}

// BenchmarkDecodeRequest decodes one PP-OCR crop into a reused Call, as
// the server's pooled calls do.
func BenchmarkDecodeRequest(b *testing.B) {
	binBody, hl := ppocrBinaryBody()
	bodies := []struct {
		name      string
		body      []byte
		headerLen int
	}{{"json", ppocrJSONBody(b), -1}, {"json-header-first", ppocrHeaderFirstBody(b), -1}, {"binary", binBody, hl}}
	for _, c := range bodies {
		b.Run(c.name, func(b *testing.B) {
			benchBoth(b, len(c.body), func() func() error {
				var call v2.Call
				return func() error { return v2.DecodeRequest(c.body, c.headerLen, &call) }
			})
		})
	}
}

// BenchmarkAppendResponse encodes one PP-OCR-sized output into a reused
// buffer, as the server does into fasthttp's pooled body buffer.
func BenchmarkAppendResponse(b *testing.B) {
	resp := ppocrResponse()
	for _, l := range layouts {
		call := binaryCall(b, l.binary)
		size := len(appendedResponse(resp, call))
		b.Run(l.name, func(b *testing.B) {
			benchBoth(b, size, func() func() error {
				buf := make([]byte, 0, size)
				return func() error {
					buf, _ = v2.AppendResponse(buf[:0], resp, call)
					return nil
				}
			})
		})
	}
}

func appendedResponse(resp *tensor.Response, call *v2.Call) []byte {
	b, _ := v2.AppendResponse(nil, resp, call)
	return b
}

// BenchmarkDecodeResponse is the client's side of BenchmarkAppendResponse.
func BenchmarkDecodeResponse(b *testing.B) {
	resp := ppocrResponse()
	for _, l := range layouts {
		body, hl := v2.AppendResponse(nil, resp, binaryCall(b, l.binary))
		b.Run(l.name, func(b *testing.B) {
			benchBoth(b, len(body), func() func() error {
				return func() error { _, err := v2.DecodeResponse(body, hl); return err }
			})
		})
	}
}

// BenchmarkAppendRequest is the client's side of BenchmarkDecodeRequest.
func BenchmarkAppendRequest(b *testing.B) {
	req := &tensor.Request{ID: "bench", Inputs: ppocrResponse().Outputs}
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			body, _, _ := v2.AppendRequest(nil, req, l.binary)
			benchBoth(b, len(body), func() func() error {
				buf := make([]byte, 0, len(body))
				return func() error {
					var err error
					buf, _, err = v2.AppendRequest(buf[:0], req, l.binary)
					return err
				}
			})
		})
	}
}

// The request path's allocation budget: a reused Call decodes a PP-OCR
// crop allocating only the request's id (and, binary, the boxed
// binary_data_size), and the response is encoded into a reused buffer
// without allocating.
func TestAllocationBudget(t *testing.T) {
	binBody, hl := ppocrBinaryBody()
	jsonBody := ppocrHeaderFirstBody(t)
	var call v2.Call
	decode := func(body []byte, hl int) func() {
		return func() {
			if err := v2.DecodeRequest(body, hl, &call); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, buf := ppocrResponse(), make([]byte, 0, 1<<20)
	for _, c := range []struct {
		name   string
		budget float64
		op     func()
	}{
		{"decode binary", 2, decode(binBody, hl)},
		{"decode JSON", 1, decode(jsonBody, -1)},
		{"encode JSON", 0, func() { buf, _ = v2.AppendResponse(buf[:0], resp, &call) }},
	} {
		c.op() // the Call learns the size of a call
		if n := testing.AllocsPerRun(50, c.op); n > c.budget {
			t.Errorf("%s: %v allocations, budget %v", c.name, n, c.budget)
		}
	}
}
