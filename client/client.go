package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// headerLength is Triton's header that marks a binary-tensor body.
const headerLength = "Inference-Header-Content-Length"

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

// Prepared is an encoded infer request, ready to send any number of times
// over the transport that prepared it: an HTTP body, or a gRPC message.
type Prepared struct {
	uri       string
	body      []byte
	headerLen int // Inference-Header-Content-Length, or -1 for JSON
	key       string
	// rpc is the gRPC form, nil for HTTP: one message that every caller
	// sends, since marshalling only reads it.
	rpc *rpcPrepared
}

// Protocol is the transport p was prepared for: "http" or "grpc".
func (p *Prepared) Protocol() string {
	if p.rpc != nil {
		return "grpc"
	}
	return "http"
}

// Options shape how a request is encoded and routed.
type Options struct {
	// Binary asks for binary tensors for inputs and outputs over HTTP;
	// gRPC always carries tensors raw and ignores it.
	Binary bool
	// RoutingKey keeps calls on one version during a canary rollout: the
	// Sluice-Routing-Key header, or sluice-routing-key metadata.
	RoutingKey string
	Outputs    []string // the outputs wanted, in order; none asks for all
	// Parameters are the request's; over gRPC each value must be a bool,
	// an integer, a float or a string (InferParameter's choices).
	Parameters map[string]any
}

// request is the v2 request opt describes for inputs.
func (opt Options) request(inputs []tensor.Tensor) *tensor.Request {
	req := &tensor.Request{Inputs: inputs}
	if len(opt.Parameters) > 0 || opt.Binary {
		req.Parameters = make(tensor.Parameters, len(opt.Parameters)+1)
		maps.Copy(req.Parameters, opt.Parameters)
	}
	if opt.Binary {
		req.Parameters["binary_data_output"] = true
	}
	for _, name := range opt.Outputs {
		req.Outputs = append(req.Outputs, tensor.OutputRequest{Name: name, Binary: opt.Binary})
	}
	return req
}

// Prepare encodes an infer request for model (and version, "" for the
// server's choice). An input whose data does not fit its shape is an error.
func (c *Client) Prepare(model, version string, inputs []tensor.Tensor, opt Options) (*Prepared, error) {
	uri := c.base + "/v2/models/" + model
	if version != "" {
		uri += "/versions/" + version
	}
	body, headerLen, err := v2.AppendRequest(nil, opt.request(inputs), opt.Binary)
	if err != nil {
		return nil, err
	}
	return &Prepared{uri: uri + "/infer", body: body, headerLen: headerLen, key: opt.RoutingKey}, nil
}

// Caller sends one prepared request again and again on reused request and
// response objects: the load harness's hot loop. Not safe for concurrent
// use; make one per goroutine. Both transports make Callers, so the
// harness drives either through the same type.
type Caller struct {
	call func(deadline time.Time) (Result, error)
}

// Call sends the request, waiting until deadline at most. An error is a
// call the server never answered (a refused connection, the deadline);
// an answer, whatever its status, is a Result.
func (k *Caller) Call(deadline time.Time) (Result, error) { return k.call(deadline) }

// failing is a Caller whose every call fails with err.
func failing(err error) *Caller {
	return &Caller{call: func(time.Time) (Result, error) { return Result{}, err }}
}

// NewCaller prepares the HTTP request for p once. A request prepared by
// the gRPC transport makes a Caller that fails every call.
func (c *Client) NewCaller(p *Prepared) *Caller {
	if p.rpc != nil {
		return failing(errWrongTransport("HTTP", p))
	}
	req, resp := &fasthttp.Request{}, &fasthttp.Response{}
	fill(req, p)
	return &Caller{call: func(deadline time.Time) (Result, error) {
		if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
			return Result{}, err
		}
		return Result{Status: resp.StatusCode(), Version: string(resp.Header.Peek("Sluice-Model-Version"))}, nil
	}}
}

// errWrongTransport is the error of sending p over a transport that did not
// prepare it: its bytes mean nothing there.
func errWrongTransport(over string, p *Prepared) error {
	return fmt.Errorf("client: a request prepared for %s sent over %s; prepare it with the client that sends it", p.Protocol(), over)
}

// fill writes a prepared request into an HTTP request.
func fill(req *fasthttp.Request, p *Prepared) {
	req.SetRequestURI(p.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	if p.headerLen >= 0 {
		req.Header.Set(headerLength, strconv.Itoa(p.headerLen))
		req.Header.SetContentType("application/octet-stream")
	} else {
		req.Header.SetContentType("application/json")
	}
	if p.key != "" {
		req.Header.Set("Sluice-Routing-Key", p.key)
	}
	req.SetBodyRaw(p.body)
}

// Result is what Send reads of an answer: enough to count it. Over gRPC,
// Status is the HTTP status Sluice's HTTP door answers for the same
// outcome (see RPCError.HTTPStatus), so one count serves both transports.
type Result struct {
	Status  int
	Version string // Sluice-Model-Version, or "" from other servers
}

// Send posts a prepared request; resp, when not nil, receives the full
// answer for Decode. It honours ctx's deadline.
func (c *Client) Send(ctx context.Context, p *Prepared, resp *fasthttp.Response) (Result, error) {
	if p.rpc != nil {
		return Result{}, errWrongTransport("HTTP", p)
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	own := resp == nil
	if own {
		resp = fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
	}
	fill(req, p)
	if err := c.roundTrip(ctx, req, resp); err != nil {
		return Result{}, err
	}
	return Result{Status: resp.StatusCode(), Version: string(resp.Header.Peek("Sluice-Model-Version"))}, nil
}

// SendTagged posts a prepared request under the request id id (the
// X-Request-Id the server logs), for a caller that must find a call in the
// server's log afterwards. It honours ctx's deadline.
func (c *Client) SendTagged(ctx context.Context, p *Prepared, id string) (Result, error) {
	if p.rpc != nil {
		return Result{}, errWrongTransport("HTTP", p)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	fill(req, p)
	req.Header.Set("X-Request-Id", id)
	if err := c.roundTrip(ctx, req, resp); err != nil {
		return Result{}, err
	}
	return Result{Status: resp.StatusCode(), Version: string(resp.Header.Peek("Sluice-Model-Version"))}, nil
}

// roundTrip sends req and reads its answer into resp by ctx's deadline.
func (c *Client) roundTrip(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error {
	if d, ok := ctx.Deadline(); ok {
		return c.hc.DoDeadline(req, resp, d)
	}
	return c.hc.Do(req, resp)
}

// Infer sends one request and decodes its answer with the checks the
// server applies to requests; a non-200 answer is an error carrying the
// server's message.
func (c *Client) Infer(ctx context.Context, model, version string, inputs []tensor.Tensor, opt Options) (*tensor.Response, error) {
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

// decodeResponse decodes an answer into tensors of their own: binary
// outputs point into the body, so it is copied off the pooled response.
func decodeResponse(resp *fasthttp.Response) (*tensor.Response, error) {
	headerLen := -1
	if h := resp.Header.Peek(headerLength); h != nil {
		n, err := strconv.Atoi(string(h))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("decoding the answer: %s %q is not a byte count", headerLength, h)
		}
		headerLen = n
	}
	r, err := v2.DecodeResponse(bytes.Clone(resp.Body()), headerLen)
	if err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	return r, nil
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
