package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// These benchmarks measure the infer handler's own cost (decode, encode,
// headers) on an in-memory RequestCtx, reset between calls as fasthttp
// does. The codec alone is benchmarked in v2.

// fixedModels answers every call with one response, so that inference
// does not drown the handler's cost.
type fixedModels struct {
	Models
	resp *tensor.Response
}

func (f fixedModels) Lookup(string, string) (*registry.Version, error) { return nil, nil }

func (f fixedModels) InferDeferred(_ context.Context, _, _, _ string, call registry.Deferred) (*tensor.Response, error) {
	req, err := call.Request()
	if err != nil {
		return nil, err
	}
	if len(req.Inputs) == 0 {
		return nil, tensor.Errorf(tensor.InvalidArgument, "no inputs")
	}
	return f.resp, nil
}

// ppocrCrop is one PP-OCR crop, 1x3x48x192 FP32, named name.
func ppocrCrop(name string) tensor.Tensor {
	r := rand.New(rand.NewPCG(1, 2))
	t := tensor.Tensor{Name: name, DataType: tensor.FP32, Shape: []int64{1, 3, 48, 192}}
	for range tensor.Elements(t.Shape) {
		t.Data = binary.LittleEndian.AppendUint32(t.Data, math.Float32bits(r.Float32()*2-1))
	}
	return t
}

// ppocrJSONBody is written by encoding/json, as many clients do: data
// before datatype, which makes the decoder defer it.
func ppocrJSONBody(tb testing.TB) []byte {
	x := ppocrCrop("x")
	values := make([]float32, len(x.Data)/4)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(x.Data[4*i:]))
	}
	b, err := json.Marshal(map[string]any{"id": "bench", "inputs": []any{map[string]any{
		"name": "x", "shape": x.Shape, "datatype": "FP32", "data": values}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ppocrBinaryBody asks for binary outputs too.
func ppocrBinaryBody(tb testing.TB) ([]byte, int) {
	req := &tensor.Request{ID: "bench", Inputs: []tensor.Tensor{ppocrCrop("x")}, Parameters: tensor.Parameters{"binary_data_output": true}}
	body, hl, err := v2.AppendRequest(nil, req, true)
	if err != nil {
		tb.Fatal(err)
	}
	return body, hl
}

func benchInfer(b *testing.B, body []byte, headerLen int, parallel bool) {
	resp := &tensor.Response{ModelName: "ppocr-cls", ModelVersion: "1", ID: "bench", Outputs: []tensor.Tensor{ppocrCrop("y")}}
	s := &Server{cfg: DefaultConfig(), models: fixedModels{resp: resp}}
	r := route{kind: routeInfer, model: "ppocr-cls"}
	newCtx := func() *fasthttp.RequestCtx {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.SetBody(body)
		if headerLen >= 0 {
			ctx.Request.Header.Set(headerLength, strconv.Itoa(headerLen))
		}
		return ctx
	}
	one := func(ctx *fasthttp.RequestCtx) bool {
		ctx.Response.Reset()
		s.infer(ctx, r)
		return ctx.Response.StatusCode() == fasthttp.StatusOK && len(ctx.Response.Body()) > len(resp.Outputs[0].Data)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer func() { b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s") }()
	if !parallel {
		ctx := newCtx()
		for b.Loop() {
			if !one(ctx) {
				b.Fatalf("status %d: %.200s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx()
		for pb.Next() {
			if !one(ctx) {
				b.Errorf("status %d: %.200s", ctx.Response.StatusCode(), ctx.Response.Body())
				return
			}
		}
	})
}

func BenchmarkInferHandler(b *testing.B) {
	jsonBody := ppocrJSONBody(b)
	binBody, hl := ppocrBinaryBody(b)
	for _, par := range []bool{false, true} {
		name := map[bool]string{false: "serial", true: "parallel"}[par]
		b.Run("json/"+name, func(b *testing.B) { benchInfer(b, jsonBody, -1, par) })
		b.Run("binary/"+name, func(b *testing.B) { benchInfer(b, binBody, hl, par) })
	}
}

// The handler writes the binary layout's header and the answer's bytes
// where a client finds them.
func TestInferHandlerWritesTheBinaryLayout(t *testing.T) {
	y := ppocrCrop("y")
	resp := &tensor.Response{ModelName: "ppocr-cls", ModelVersion: "1", Outputs: []tensor.Tensor{y}}
	s := &Server{cfg: DefaultConfig(), models: fixedModels{resp: resp}}
	body, hl := ppocrBinaryBody(t)
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetBody(body)
	ctx.Request.Header.Set(headerLength, strconv.Itoa(hl))
	s.infer(ctx, route{kind: routeInfer, model: "ppocr-cls"})
	n, err := strconv.Atoi(string(ctx.Response.Header.Peek(headerLength)))
	if err != nil {
		t.Fatalf("%s: %q", headerLength, ctx.Response.Header.Peek(headerLength))
	}
	got, err := v2.DecodeResponse(ctx.Response.Body(), n)
	if err != nil || len(got.Outputs) != 1 || string(got.Outputs[0].Data) != string(y.Data) {
		t.Fatalf("decoded %+v, %v; want output y's bytes back", got, err)
	}
	if ct := string(ctx.Response.Header.ContentType()); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
}
