package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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
	return c.send(ctx, method, path, in, func(body []byte) error {
		if out == nil || len(body) == 0 {
			return nil
		}
		return json.Unmarshal(body, out)
	})
}

// send sends a request with an optional JSON body and hands a 200 answer's
// body, valid only during the call, to read.
func (c *Client) send(ctx context.Context, method, path string, in any, read func([]byte) error) error {
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
	if err := c.roundTrip(ctx, req, resp); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Errorf("%s %s: %w", method, path, statusError(resp.StatusCode(), resp.Body()))
	}
	return read(resp.Body())
}

// Metrics reads the server's Prometheus exposition (/metrics) as text.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	var out []byte
	err := c.send(ctx, fasthttp.MethodGet, "/metrics", nil, func(b []byte) error {
		out = append(out, b...)
		return nil
	})
	return out, err
}

// SumMetrics reads a Prometheus text exposition (what Metrics returns) into
// sums by metric name, and by name{model="m"} for series with a model
// label: go_goroutines, sluice_instance_busy_seconds_total{model="ppocr-cls"}.
func SumMetrics(text []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		name, labels, _ := strings.Cut(series, "{")
		out[name] += v
		if _, rest, ok := strings.Cut(labels, `model="`); ok {
			if m, _, ok := strings.Cut(rest, `"`); ok {
				out[name+`{model="`+m+`"}`] += v
			}
		}
	}
	return out
}

// CloseIdle closes the client's idle connections, as a load generator does
// when its load ends.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

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
