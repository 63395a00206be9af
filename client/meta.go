package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/valyala/fasthttp"
)

// TensorMeta describes one input or output.
type TensorMeta struct {
	Name     string  `json:"name"`
	DataType string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMeta is a model's metadata.
type ModelMeta struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []TensorMeta `json:"inputs"`
	Outputs  []TensorMeta `json:"outputs"`
}

// do sends a request with an optional JSON body and decodes a JSON answer.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.base + path)
	req.Header.SetMethod(method)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.SetBodyRaw(b)
		req.Header.SetContentType("application/json")
	}
	var err error
	if d, ok := ctx.Deadline(); ok {
		err = c.hc.DoDeadline(req, resp, d)
	} else {
		err = c.hc.Do(req, resp)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Errorf("%s %s: %w", method, path, statusError(resp.StatusCode(), resp.Body()))
	}
	if out == nil || len(resp.Body()) == 0 {
		return nil
	}
	return json.Unmarshal(resp.Body(), out)
}

// ModelMetadata reads a model's (or version's) metadata.
func (c *Client) ModelMetadata(ctx context.Context, model, version string) (*ModelMeta, error) {
	path := "/v2/models/" + model
	if version != "" {
		path += "/versions/" + version
	}
	var m ModelMeta
	return &m, c.do(ctx, fasthttp.MethodGet, path, nil, &m)
}

// ModelCard reads the model card a version was published with (the
// pipeline's model_card.json), decoded into card.
func (c *Client) ModelCard(ctx context.Context, model, version string, card any) error {
	path := "/v2/models/" + model
	if version != "" {
		path += "/versions/" + version
	}
	return c.do(ctx, fasthttp.MethodGet, path+"/card", nil, card)
}

// Ready reports whether the server is ready.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, fasthttp.MethodGet, "/v2/health/ready", nil, nil)
}

// IndexEntry is one row of the repository index.
type IndexEntry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
}

// Index lists the repository.
func (c *Client) Index(ctx context.Context, readyOnly bool) ([]IndexEntry, error) {
	var out []IndexEntry
	return out, c.do(ctx, fasthttp.MethodPost, "/v2/repository/index", map[string]bool{"ready": readyOnly}, &out)
}

// Load (re)loads a model; params are the load parameters.
func (c *Client) Load(ctx context.Context, model string, params map[string]any) error {
	return c.do(ctx, fasthttp.MethodPost, "/v2/repository/models/"+model+"/load", map[string]any{"parameters": params}, nil)
}

// Unload unloads a model.
func (c *Client) Unload(ctx context.Context, model string) error {
	return c.do(ctx, fasthttp.MethodPost, "/v2/repository/models/"+model+"/unload", map[string]any{}, nil)
}

// Duration is a count and summed nanoseconds from the statistics extension.
type Duration struct {
	Count int64 `json:"count"`
	NS    int64 `json:"ns"`
}

// ModelStats is one version's statistics.
type ModelStats struct {
	Name           string `json:"name"`
	Version        string `json:"version"`
	InferenceCount int64  `json:"inference_count"`
	ExecutionCount int64  `json:"execution_count"`
	InferenceStats struct {
		Success       Duration `json:"success"`
		Fail          Duration `json:"fail"`
		Queue         Duration `json:"queue"`
		ComputeInput  Duration `json:"compute_input"`
		ComputeInfer  Duration `json:"compute_infer"`
		ComputeOutput Duration `json:"compute_output"`
	} `json:"inference_stats"`
}

// Stats reads a model's statistics, every version ("" for all models).
func (c *Client) Stats(ctx context.Context, model string) ([]ModelStats, error) {
	path := "/v2/models/stats"
	if model != "" {
		path = "/v2/models/" + model + "/stats"
	}
	var out struct {
		ModelStats []ModelStats `json:"model_stats"`
	}
	return out.ModelStats, c.do(ctx, fasthttp.MethodGet, path, nil, &out)
}
