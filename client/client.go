package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/tensor"
)

// Client talks to one server.
type Client struct {
	base string // http://host:port
	hc   *fasthttp.Client
	// Token, when set, is sent as a bearer token (the admin API).
	Token string
}

// New returns a client for base ("http://127.0.0.1:8000") keeping up to
// conns connections open.
func New(base string, conns int) *Client {
	return &Client{
		base: strings.TrimRight(base, "/"),
		hc: &fasthttp.Client{
			MaxConnsPerHost:          max(conns, 1),
			ReadTimeout:              time.Minute,
			WriteTimeout:             time.Minute,
			MaxIdleConnDuration:      time.Minute,
			NoDefaultUserAgentHeader: true,
		},
	}
}

// Prepared is an encoded infer request, ready to send any number of times.
type Prepared struct {
	uri       string
	body      []byte
	headerLen int // Inference-Header-Content-Length, or -1 for JSON
	key       string
}

// Options shape how a request is encoded and routed.
type Options struct {
	Binary     bool   // binary tensors for inputs and outputs
	RoutingKey string // Sluice-Routing-Key, for sticky canary routing
	Parameters map[string]any
}

// Prepare encodes an infer request for model (and version, "" for the
// server's choice).
func (c *Client) Prepare(model, version string, inputs []tensor.Tensor, opt Options) (*Prepared, error) {
	uri := c.base + "/v2/models/" + model
	if version != "" {
		uri += "/versions/" + version
	}
	p := &Prepared{uri: uri + "/infer", headerLen: -1, key: opt.RoutingKey}
	header := map[string]any{}
	params := map[string]any{}
	for k, v := range opt.Parameters {
		params[k] = v
	}
	var ins []map[string]any
	var blobs [][]byte
	for _, t := range inputs {
		in := map[string]any{"name": t.Name, "shape": t.Shape, "datatype": t.DataType.String()}
		if opt.Binary {
			in["parameters"] = map[string]any{"binary_data_size": len(t.Data)}
			blobs = append(blobs, t.Data)
		} else {
			data, err := jsonData(t)
			if err != nil {
				return nil, err
			}
			in["data"] = json.RawMessage(data)
		}
		ins = append(ins, in)
	}
	header["inputs"] = ins
	if opt.Binary {
		params["binary_data_output"] = true
	}
	if len(params) > 0 {
		header["parameters"] = params
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	p.body = h
	if opt.Binary {
		p.headerLen = len(h)
		for _, b := range blobs {
			p.body = append(p.body, b...)
		}
	}
	return p, nil
}

// jsonData writes a tensor's elements as a flat JSON array.
func jsonData(t tensor.Tensor) ([]byte, error) {
	b := []byte{'['}
	le := binary.LittleEndian
	size := t.DataType.Size()
	n := int(tensor.Elements(t.Shape))
	if t.DataType == tensor.Bytes {
		data := t.Data
		for i := 0; len(data) >= 4; i++ {
			l := le.Uint32(data)
			s, _ := json.Marshal(string(data[4 : 4+l]))
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, s...)
			data = data[4+l:]
		}
		return append(b, ']'), nil
	}
	if len(t.Data) != n*size {
		return nil, fmt.Errorf("input %q: %d bytes for %d %s elements", t.Name, len(t.Data), n, t.DataType)
	}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		e := t.Data[i*size : (i+1)*size]
		switch t.DataType {
		case tensor.FP32:
			b = strconv.AppendFloat(b, float64(math.Float32frombits(le.Uint32(e))), 'g', -1, 32)
		case tensor.FP64:
			b = strconv.AppendFloat(b, math.Float64frombits(le.Uint64(e)), 'g', -1, 64)
		case tensor.FP16:
			b = strconv.AppendFloat(b, float64(tensor.Float32FromHalf(le.Uint16(e))), 'g', -1, 32)
		case tensor.Bool:
			b = strconv.AppendBool(b, e[0] != 0)
		case tensor.Int8:
			b = strconv.AppendInt(b, int64(int8(e[0])), 10)
		case tensor.Int16:
			b = strconv.AppendInt(b, int64(int16(le.Uint16(e))), 10)
		case tensor.Int32:
			b = strconv.AppendInt(b, int64(int32(le.Uint32(e))), 10)
		case tensor.Int64:
			b = strconv.AppendInt(b, int64(le.Uint64(e)), 10)
		case tensor.Uint8:
			b = strconv.AppendUint(b, uint64(e[0]), 10)
		case tensor.Uint16:
			b = strconv.AppendUint(b, uint64(le.Uint16(e)), 10)
		case tensor.Uint32:
			b = strconv.AppendUint(b, uint64(le.Uint32(e)), 10)
		case tensor.Uint64:
			b = strconv.AppendUint(b, le.Uint64(e), 10)
		}
	}
	return append(b, ']'), nil
}

// Caller sends one prepared request again and again on reused request and
// response objects: the load harness's hot loop. Not safe for concurrent
// use; make one per goroutine.
type Caller struct {
	c    *Client
	req  *fasthttp.Request
	resp *fasthttp.Response
}

// NewCaller prepares the HTTP request for p once.
func (c *Client) NewCaller(p *Prepared) *Caller {
	req := &fasthttp.Request{}
	fill(req, p)
	return &Caller{c: c, req: req, resp: &fasthttp.Response{}}
}

// Call sends the request, waiting until deadline at most.
func (k *Caller) Call(deadline time.Time) (Result, error) {
	if err := k.c.hc.DoDeadline(k.req, k.resp, deadline); err != nil {
		return Result{}, err
	}
	return Result{Status: k.resp.StatusCode(), Version: string(k.resp.Header.Peek("Sluice-Model-Version"))}, nil
}

// fill writes a prepared request into an HTTP request.
func fill(req *fasthttp.Request, p *Prepared) {
	req.SetRequestURI(p.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	if p.headerLen >= 0 {
		req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(p.headerLen))
		req.Header.SetContentType("application/octet-stream")
	} else {
		req.Header.SetContentType("application/json")
	}
	if p.key != "" {
		req.Header.Set("Sluice-Routing-Key", p.key)
	}
	req.SetBodyRaw(p.body)
}

// Result is what Send reads of an answer: enough to count it.
type Result struct {
	Status  int
	Version string // Sluice-Model-Version, or "" from other servers
}

// Send posts a prepared request; resp, when not nil, receives the full
// answer for Decode. It honours ctx's deadline.
func (c *Client) Send(ctx context.Context, p *Prepared, resp *fasthttp.Response) (Result, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	own := resp == nil
	if own {
		resp = fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
	}
	fill(req, p)
	var err error
	if d, ok := ctx.Deadline(); ok {
		err = c.hc.DoDeadline(req, resp, d)
	} else {
		err = c.hc.Do(req, resp)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Status: resp.StatusCode(), Version: string(resp.Header.Peek("Sluice-Model-Version"))}, nil
}

// Response is a decoded infer answer.
type Response struct {
	ModelName    string
	ModelVersion string
	ID           string
	Outputs      []tensor.Tensor
}

// Infer sends one request and decodes its answer; a non-200 answer is an
// error carrying the server's message.
func (c *Client) Infer(ctx context.Context, model, version string, inputs []tensor.Tensor, opt Options) (*Response, error) {
	p, err := c.Prepare(model, version, inputs, opt)
	if err != nil {
		return nil, err
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	r, err := c.Send(ctx, p, resp)
	if err != nil {
		return nil, err
	}
	if r.Status != fasthttp.StatusOK {
		return nil, statusError(r.Status, resp.Body())
	}
	return decodeResponse(resp)
}

// StatusError is a non-200 answer.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

func statusError(status int, body []byte) error {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &StatusError{status, e.Error}
	}
	return &StatusError{status, string(bytes.TrimSpace(body))}
}
