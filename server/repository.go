package server

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
)

// The model repository extension, as Triton's clients send it.

// decodeBody reads an optional JSON object body into v; empty means {}.
func (s *Server) decodeBody(ctx *fasthttp.RequestCtx, v any) error {
	body, _, err := readBody(ctx, nil, s.cfg.MaxBodyBytes, nil)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return tensor.Errorf(tensor.InvalidArgument, "request body: %v", err)
	}
	return nil
}

func (s *Server) repoIndex(ctx *fasthttp.RequestCtx) {
	var req struct {
		Ready bool `json:"ready"`
	}
	if err := s.decodeBody(ctx, &req); err != nil {
		writeError(ctx, err)
		return
	}
	idx := s.models.Index(req.Ready)
	if idx == nil {
		idx = []registry.IndexEntry{}
	}
	writeJSON(ctx, fasthttp.StatusOK, idx)
}

type repoRequest struct {
	Parameters map[string]json.RawMessage `json:"parameters"`
}

func (s *Server) repoLoad(ctx *fasthttp.RequestCtx, r route) {
	var req repoRequest
	if err := s.decodeBody(ctx, &req); err != nil {
		writeError(ctx, err)
		return
	}
	config, err := configOverride(req.Parameters["config"])
	if err != nil {
		writeError(ctx, err)
		return
	}
	canary, err := rolloutParam(req.Parameters["rollout"])
	if err != nil {
		writeError(ctx, err)
		return
	}
	cctx, cancel := s.controlContext(ctx)
	defer cancel()
	if canary {
		err = s.rollouts.LoadAsCanary(cctx, r.model, config)
	} else {
		err = s.models.Load(cctx, r.model, config)
	}
	if err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}

// configOverride reads Triton's "config" load parameter: a string holding
// the model configuration (JSON or YAML), or the object itself.
func configOverride(raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return nil, nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []byte(text), nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, tensor.Errorf(tensor.InvalidArgument, "parameters.config: expected the model configuration as a string or an object")
	}
	return raw, nil
}

// rolloutParam reads Sluice's load parameter "rollout": "canary".
func rolloutParam(raw json.RawMessage) (bool, error) {
	if raw == nil {
		return false, nil
	}
	var v string
	if json.Unmarshal(raw, &v) != nil || (v != "canary" && v != "now") {
		return false, tensor.Errorf(tensor.InvalidArgument, "parameters.rollout: %s, expected \"canary\" (start the model's default rollout) or \"now\"", raw)
	}
	return v == "canary", nil
}

func (s *Server) repoUnload(ctx *fasthttp.RequestCtx, r route) {
	var req repoRequest // unload_dependents is accepted: Sluice has no ensembles to unload with it
	if err := s.decodeBody(ctx, &req); err != nil {
		writeError(ctx, err)
		return
	}
	cctx, cancel := s.controlContext(ctx)
	defer cancel()
	if err := s.models.Unload(cctx, r.model); err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}
