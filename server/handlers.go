package server

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
)

// headerLength is Triton's header that marks a binary-tensor body.
const headerLength = "Inference-Header-Content-Length"

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (s *Server) infer(ctx *fasthttp.RequestCtx, r route) {
	if _, err := s.models.Lookup(r.model, r.version); err != nil {
		writeError(ctx, err) // an unknown model answers 404 before its body is read
		return
	}
	var call inferCall
	if err := decodeInfer(ctx.PostBody(), headerLen(ctx), &call); err != nil {
		writeError(ctx, err)
		return
	}
	ictx, cancel := context.WithTimeout(context.Background(), s.cfg.InferTimeout)
	defer cancel()
	key := string(ctx.Request.Header.Peek(s.cfg.RoutingHeader))
	resp, err := s.models.Infer(ictx, r.model, r.version, key, &call.req)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ctx.Response.Header.Set("Sluice-Model-Version", resp.ModelVersion)
	writeInferResponse(ctx, resp, &call)
}

// headerLen reads Inference-Header-Content-Length, -1 when absent; a bad
// value is treated as absent and then fails as malformed JSON.
func headerLen(ctx *fasthttp.RequestCtx) int {
	h := ctx.Request.Header.Peek(headerLength)
	if h == nil {
		return -1
	}
	n, err := strconv.Atoi(string(h))
	if err != nil || n < 0 {
		return len(ctx.PostBody()) + 1 // fails with a message naming the header
	}
	return n
}

func writeInferResponse(ctx *fasthttp.RequestCtx, resp *tensor.Response, call *inferCall) {
	bp := bufPool.Get().(*[]byte)
	header, bins := appendInferResponse((*bp)[:0], resp, call)
	if call.binary {
		ctx.Response.Header.Set(headerLength, strconv.Itoa(len(header)))
		ctx.SetContentType("application/octet-stream")
	} else {
		ctx.SetContentType("application/json")
	}
	ctx.Response.AppendBody(header)
	for _, b := range bins {
		ctx.Response.AppendBody(b)
	}
	*bp = header
	bufPool.Put(bp)
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
	writeJSON(ctx, fasthttp.StatusOK, serverMeta{Name: "sluice", Version: Version, Extensions: []string{"binary_tensor_data", "statistics", "model_repository"}})
}

func (s *Server) serverReady(ctx *fasthttp.RequestCtx) {
	if s.models.Ready() {
		writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"ready": true})
		return
	}
	writeJSON(ctx, fasthttp.StatusServiceUnavailable, map[string]any{"ready": false, "error": "not every model has a ready version"})
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
