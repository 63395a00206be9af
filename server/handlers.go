package server

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// headerLength is Triton's header that marks a binary-tensor body.
const headerLength = "Inference-Header-Content-Length"

// callPool keeps calls, whose decode and body buffers then serve the next
// request of the same size without allocating.
var callPool = sync.Pool{New: func() any { return new(inferCall) }}

// keepBodyBytes is the largest body buffer a pooled call keeps: a batch of
// PP-OCR crops, not a rare giant body.
const keepBodyBytes = 1 << 20

// inferCall is one inference request on its way through the server: the
// registry asks for its Request only once the call is admitted, so a
// refused call's body is never read.
type inferCall struct {
	call v2.Call
	body []byte // the read body's array, reused
	held int64  // bytes of s.bodies this call holds
	s    *Server
	ctx  *fasthttp.RequestCtx
}

// Request reads the body and decodes it.
func (c *inferCall) Request() (*tensor.Request, error) {
	streamed := c.ctx.RequestBodyStream() != nil // else the body is fasthttp's, not ours to keep
	body, held, err := readBody(c.ctx, c.body, c.s.cfg.MaxBodyBytes, c.s.bodies)
	if err != nil {
		return nil, err
	}
	if streamed && cap(body) <= keepBodyBytes {
		c.body = body[:0]
	}
	c.held = held
	if err := v2.DecodeRequest(body, headerLen(c.ctx, len(body)), &c.call); err != nil {
		return nil, err
	}
	c.call.Request.Timeout = c.s.cfg.InferTimeout
	return &c.call.Request, nil
}

// infer hands the call to the registry, which resolves the model and
// version once, admits the call, and only then has its body read.
func (s *Server) infer(ctx *fasthttp.RequestCtx, r route) {
	c := callPool.Get().(*inferCall)
	c.s, c.ctx = s, ctx
	defer s.releaseCall(c)
	key := string(ctx.Request.Header.Peek(s.cfg.RoutingHeader))
	// server.infer_timeout travels as Request.Timeout (set once the body
	// is decoded), which the batcher enforces with its one timer.
	resp, err := s.models.InferDeferred(context.Background(), r.model, r.version, key, c)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ctx.Response.Header.Set("Sluice-Model-Version", resp.ModelVersion)
	writeInferResponse(ctx, resp, &c.call)
}

// releaseCall pools a call once its request and response are done with:
// the batcher lets a caller go only after its inputs are copied, so nothing
// reads the call's buffers any more, and its body leaves the budget.
func (s *Server) releaseCall(c *inferCall) {
	if c.held > 0 {
		s.bodies.give(c.held)
	}
	c.call.Reset()
	c.held, c.s, c.ctx = 0, nil, nil
	callPool.Put(c)
}

// headerLen reads Inference-Header-Content-Length, -1 when absent. A
// negative value goes through for v2 to refuse naming it; one that is not
// a number is refused as past the body, which names the header too.
func headerLen(ctx *fasthttp.RequestCtx, bodyLen int) int {
	h := ctx.Request.Header.Peek(headerLength)
	if h == nil {
		return -1
	}
	n, err := strconv.Atoi(string(h))
	if err != nil {
		return bodyLen + 1
	}
	return n
}

// writeInferResponse encodes straight into the response's own pooled body
// buffer, swapped out and back, so the answer is written once and never
// copied.
func writeInferResponse(ctx *fasthttp.RequestCtx, resp *tensor.Response, call *v2.Call) {
	body, n := v2.AppendResponse(ctx.Response.SwapBody(nil)[:0], resp, call)
	ctx.Response.SwapBody(body)
	if n < 0 {
		ctx.SetContentType("application/json")
		return
	}
	var digits [20]byte
	ctx.Response.Header.SetBytesV(headerLength, strconv.AppendInt(digits[:0], int64(n), 10))
	ctx.SetContentType("application/octet-stream")
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, tensor.Errorf(tensor.Internal, "encoding response: %w", err))
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

type serverMeta struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

func (s *Server) serverMetadata(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, serverMeta{Name: "sluice", Version: Version, Extensions: []string{"binary_tensor_data", "statistics", "model_repository", "model_configuration"}})
}

func (s *Server) serverReady(ctx *fasthttp.RequestCtx) {
	if s.draining.Load() {
		writeJSON(ctx, fasthttp.StatusServiceUnavailable, map[string]any{"ready": false, "error": "the server is shutting down"})
		return
	}
	if s.models.Ready() {
		writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"ready": true})
		return
	}
	writeJSON(ctx, fasthttp.StatusServiceUnavailable, map[string]any{"ready": false, "error": "the model repository is still loading, or a model has no ready version"})
}

type tensorMeta struct {
	Name     string  `json:"name"`
	DataType string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMeta struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []tensorMeta `json:"inputs"`
	Outputs  []tensorMeta `json:"outputs"`
}

func (s *Server) modelMetadata(ctx *fasthttp.RequestCtx, r route) {
	v, err := s.models.Lookup(r.model, r.version)
	if err != nil {
		writeError(ctx, err)
		return
	}
	meta := modelMeta{Name: v.Name(), Platform: "onnxruntime_onnx", Versions: []string{v.Label()}}
	if r.version == "" {
		vs, err := s.models.Versions(r.model)
		if err != nil {
			writeError(ctx, err)
			return
		}
		meta.Versions = labels(vs)
	}
	sig := v.Signature()
	for _, io := range sig.Inputs {
		meta.Inputs = append(meta.Inputs, tensorMeta{io.Name, io.DataType.String(), io.Dims})
	}
	for _, io := range sig.Outputs {
		meta.Outputs = append(meta.Outputs, tensorMeta{io.Name, io.DataType.String(), io.Dims})
	}
	writeJSON(ctx, fasthttp.StatusOK, meta)
}

func labels(vs []*registry.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Label()
	}
	return out
}

func (s *Server) modelReady(ctx *fasthttp.RequestCtx, r route) {
	v, err := s.models.Lookup(r.model, r.version)
	if tensor.KindOf(err) == tensor.Unavailable {
		writeJSON(ctx, fasthttp.StatusServiceUnavailable, map[string]any{"name": r.model, "ready": false, "error": err.Error()})
		return
	}
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"name": v.Name(), "version": v.Label(), "ready": true})
}

// modelCard answers the model card the pipeline published beside the
// version's model file (model_card.json), as it was when the version
// loaded; 404 for a version published without one.
func (s *Server) modelCard(ctx *fasthttp.RequestCtx, r route) {
	v, err := s.models.Lookup(r.model, r.version)
	if err != nil {
		writeError(ctx, err)
		return
	}
	card := v.Card()
	if card == nil {
		writeError(ctx, tensor.Errorf(tensor.NotFound, "model %q version %s has no model card (model_card.json beside its model.onnx)", v.Name(), v.Label()))
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(card)
}
