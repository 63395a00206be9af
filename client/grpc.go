package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// Metadata keys Sluice's gRPC door reads and sets: the lower-cased forms of
// the HTTP headers with the same meaning.
const (
	routingKeyMD = "sluice-routing-key"
	versionMD    = "sluice-model-version"
	retryAfterMD = "retry-after"
)

// maxGRPCMessage bounds a message either way. gRPC's own default (4 MiB
// received) is smaller than a batch of images' outputs; the server bounds
// what it takes.
const maxGRPCMessage = 1 << 30

// GRPC is a client of a server's gRPC front door, Triton's
// inference.GRPCInferenceService (Sluice's on server.grpc_addr, or
// Triton's), in plaintext. One HTTP/2 connection carries all its calls on
// one TCP stream, so calls are spread round-robin over a fixed number of
// connections. Safe for concurrent use.
type GRPC struct {
	addr string
	n    int
	// Token, when set, is sent on every call as "authorization: Bearer
	// <token>": the API key of an inference call, or the admin token. Set
	// it before the first call.
	Token string
	next  atomic.Uint64                      // round-robin over conns
	conns atomic.Pointer[[]*grpc.ClientConn] // replaced whole by CloseIdle
	mu    sync.Mutex                         // serialises CloseIdle and Close, which replace or close conns
}

// DialGRPC returns a client of the gRPC door at addr (host:port) that
// spreads its calls over conns connections (at least one). Connections
// are made on first use, so a server that is not there yet is an error of
// the first call, not of DialGRPC.
func DialGRPC(addr string, conns int) (*GRPC, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("grpc address %q: expected host:port: %v", addr, err)
	}
	g := &GRPC{addr: addr, n: max(conns, 1)}
	cs, err := g.dial()
	if err != nil {
		return nil, err
	}
	g.conns.Store(&cs)
	return g, nil
}

func (g *GRPC) dial() ([]*grpc.ClientConn, error) {
	out := make([]*grpc.ClientConn, g.n)
	for i := range out {
		// No retries, whatever service configuration a resolver might
		// bring: a load harness counts the answer to each call it sent.
		cc, err := grpc.NewClient(g.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDisableRetry(),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage), grpc.MaxCallSendMsgSize(maxGRPCMessage)))
		if err != nil {
			closeAll(out[:i])
			return nil, fmt.Errorf("grpc %s: %w", g.addr, err)
		}
		out[i] = cc
	}
	return out, nil
}

func closeAll(cs []*grpc.ClientConn) {
	for _, cc := range cs {
		_ = cc.Close()
	}
}

// Close closes every connection; calls after it fail.
func (g *GRPC) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var first error
	for _, cc := range *g.conns.Load() {
		if err := cc.Close(); err != nil && first == nil {
			first = fmt.Errorf("grpc %s: %w", g.addr, err)
		}
	}
	return first
}

// CloseIdle closes the client's connections and opens fresh ones (made on
// first use), as a load generator does when its load ends. gRPC has no
// idle connections to single out: a call still running on the old ones
// fails, so call it when the load has stopped.
func (g *GRPC) CloseIdle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	fresh, err := g.dial()
	if err != nil {
		return // the address parsed once; keep the connections there are
	}
	closeAll(*g.conns.Swap(&fresh))
}

// conn is connection i of the current set, modulo its size.
func (g *GRPC) conn(i uint64) *grpc.ClientConn {
	cs := *g.conns.Load()
	return cs[i%uint64(len(cs))]
}

// callMetadata is the metadata every call with routing key key carries,
// nil for none.
func (g *GRPC) callMetadata(key string) metadata.MD {
	md := metadata.MD{}
	if g.Token != "" {
		md.Set("authorization", "Bearer "+g.Token)
	}
	if key != "" {
		md.Set(routingKeyMD, key)
	}
	if len(md) == 0 {
		return nil
	}
	return md
}

// invoke calls method on the next connection. An answer other than OK is
// an *RPCError; a call the server never answered is the transport's error.
func (g *GRPC) invoke(ctx context.Context, method string, in, out any, key string) (metadata.MD, error) {
	if md := g.callMetadata(key); md != nil {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	var hdr, tr metadata.MD
	if err := g.conn(g.next.Add(1)).Invoke(ctx, method, in, out, grpc.Header(&hdr), grpc.Trailer(&tr)); err != nil {
		return hdr, answerError(method, err, hdr, tr)
	}
	return hdr, nil
}

// Infer sends one request and converts its answer, checking each output's
// data against its shape; a status other than OK is an *RPCError carrying
// the server's code and message. opt.Binary means nothing here: gRPC
// carries tensors raw both ways.
func (g *GRPC) Infer(ctx context.Context, model, version string, inputs []tensor.Tensor, opt Options) (*tensor.Response, error) {
	p, err := g.Prepare(model, version, inputs, opt)
	if err != nil {
		return nil, err
	}
	var out tritonpb.ModelInferResponse
	if _, err := g.invoke(ctx, tritonpb.GRPCInferenceService_ModelInfer_FullMethodName, p.rpc.req, &out, p.key); err != nil {
		return nil, err
	}
	return fromInferResponse(&out)
}

// rpcPrepared is a prepared call's gRPC form.
type rpcPrepared struct {
	req *tritonpb.ModelInferRequest
}

// Prepare builds the ModelInferRequest for model (and version, "" for the
// server's choice) once, inputs in raw_input_contents, for NewCaller. An
// input whose data does not fit its shape, or a parameter gRPC cannot
// carry, is an error.
func (g *GRPC) Prepare(model, version string, inputs []tensor.Tensor, opt Options) (*Prepared, error) {
	req, err := inferRequest(model, version, inputs, opt)
	if err != nil {
		return nil, err
	}
	return &Prepared{headerLen: -1, key: opt.RoutingKey, rpc: &rpcPrepared{req: req}}, nil
}

// NewCaller makes a caller of p that keeps to one of the client's
// connections (the next, round-robin), so a loop's callers spread over
// them. A request prepared by the HTTP client makes a Caller that fails
// every call.
func (g *GRPC) NewCaller(p *Prepared) *Caller {
	if p.rpc == nil {
		return failing(errWrongTransport("gRPC", p))
	}
	b, err := proto.Marshal(p.rpc.req)
	if err != nil {
		return failing(fmt.Errorf("encoding the ModelInferRequest: %w", err))
	}
	k := &rpcCaller{g: g, conn: g.next.Add(1), req: &encoded{b}, md: g.callMetadata(p.key)}
	k.opts = []grpc.CallOption{grpc.Header(&k.hdr), grpc.Trailer(&k.tr), grpc.ForceCodecV2(preEncodedCodec{})}
	return &Caller{call: k.call}
}

// rpcCaller is one loop's gRPC caller: its request is encoded once and its
// replies are not decoded (grpccodec.go), as the HTTP caller sends a
// prepared body and reads only the status.
type rpcCaller struct {
	g       *GRPC
	conn    uint64
	req     *encoded
	md      metadata.MD // sent with every call; nil for none
	resp    discarded
	hdr, tr metadata.MD
	opts    []grpc.CallOption // fill hdr and tr; the prepared-call codec
}

// call sends the request by deadline. An answer is a Result whose Status
// is the HTTP status for its code; a call the server never answered (no
// connection, the deadline passed) is an error, as it is over HTTP.
func (k *rpcCaller) call(deadline time.Time) (Result, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if k.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, k.md)
	}
	k.hdr, k.tr = nil, nil
	err := k.g.conn(k.conn).Invoke(ctx, tritonpb.GRPCInferenceService_ModelInfer_FullMethodName, k.req, &k.resp, k.opts...)
	if err == nil {
		return Result{Status: 200, Version: firstMD(k.hdr, versionMD)}, nil
	}
	if ctx.Err() != nil {
		return Result{}, fmt.Errorf("ModelInfer: %w", err)
	}
	err = answerError(tritonpb.GRPCInferenceService_ModelInfer_FullMethodName, err, k.hdr, k.tr)
	var re *RPCError
	if !errors.As(err, &re) {
		return Result{}, err
	}
	return Result{Status: re.HTTPStatus(), Version: firstMD(k.hdr, versionMD)}, nil
}

// firstMD is md's first value for key, "" for none.
func firstMD(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Ready reports whether the server is ready (ServerReady).
func (g *GRPC) Ready(ctx context.Context) error {
	var out tritonpb.ServerReadyResponse
	if _, err := g.invoke(ctx, tritonpb.GRPCInferenceService_ServerReady_FullMethodName, &tritonpb.ServerReadyRequest{}, &out, ""); err != nil {
		return err
	}
	if !out.Ready {
		return fmt.Errorf("ServerReady: the server at %s is not ready", g.addr)
	}
	return nil
}

// ModelMetadata reads a model's (or version's) metadata.
func (g *GRPC) ModelMetadata(ctx context.Context, model, version string) (*ModelMeta, error) {
	var out tritonpb.ModelMetadataResponse
	in := &tritonpb.ModelMetadataRequest{Name: model, Version: version}
	if _, err := g.invoke(ctx, tritonpb.GRPCInferenceService_ModelMetadata_FullMethodName, in, &out, ""); err != nil {
		return nil, err
	}
	return toModelMeta(&out), nil
}

// Stats reads a model's statistics, every version ("" for all models).
func (g *GRPC) Stats(ctx context.Context, model string) ([]ModelStats, error) {
	var out tritonpb.ModelStatisticsResponse
	in := &tritonpb.ModelStatisticsRequest{Name: model}
	if _, err := g.invoke(ctx, tritonpb.GRPCInferenceService_ModelStatistics_FullMethodName, in, &out, ""); err != nil {
		return nil, err
	}
	return toModelStats(&out), nil
}
