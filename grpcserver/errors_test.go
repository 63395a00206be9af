package grpcserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/grpcserver"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// httpStatusOf is the status the HTTP door answers for each code's kind.
var httpStatusOf = map[codes.Code]int{
	codes.InvalidArgument: 400, codes.NotFound: 404, codes.Unavailable: 503, codes.ResourceExhausted: 503,
	codes.DeadlineExceeded: 504, codes.Unauthenticated: 401, codes.PermissionDenied: 403,
}

// TestErrorsMatchHTTP sends bad calls through both doors: each gets the
// gRPC code of its kind and the message HTTP sends.
func TestErrorsMatchHTTP(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success")
	if err := f.reg.Unload(callCtx(t), "student-success"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  *tritonpb.ModelInferRequest
		code codes.Code
	}{
		{"unknown model", func() *tritonpb.ModelInferRequest { r := studentCall("", 1); r.ModelName = "no-such-model"; return r }(), codes.NotFound},
		{"unloaded model", studentCall("", 1), codes.Unavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, gerr := f.grpc.ModelInfer(callCtx(t), c.req)
			_, herr := httpCall(t, f, c.req)
			checkSame(t, gerr, herr, c.code)
		})
	}
}

// TestInvalidArguments covers the requests the gRPC door itself refuses
// and the ones the registry's checks refuse, with the HTTP door's message
// where HTTP can send the same request.
func TestInvalidArguments(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success")
	bad := func(edit func(*tritonpb.ModelInferRequest)) *tritonpb.ModelInferRequest {
		r := studentCall("", 2)
		edit(r)
		return r
	}
	sameAsHTTP := []*tritonpb.ModelInferRequest{
		bad(func(r *tritonpb.ModelInferRequest) { r.Inputs[0].Name = "feature" }),
		bad(func(r *tritonpb.ModelInferRequest) { r.Inputs[0].Shape = []int64{1, 16} }),
		bad(func(r *tritonpb.ModelInferRequest) {
			r.Inputs[0].Datatype = "FP64"
			r.RawInputContents[0] = append(r.RawInputContents[0], r.RawInputContents[0]...)
		}),
		bad(func(r *tritonpb.ModelInferRequest) {
			r.Outputs = []*tritonpb.ModelInferRequest_InferRequestedOutputTensor{{Name: "nope"}}
		}),
	}
	for _, r := range sameAsHTTP {
		_, gerr := f.grpc.ModelInfer(callCtx(t), r)
		_, herr := httpCall(t, f, r)
		checkSame(t, gerr, herr, codes.InvalidArgument)
	}
	grpcOnly := map[string]*tritonpb.ModelInferRequest{
		"raw_input_contents: 2 entries for 1 inputs": bad(func(r *tritonpb.ModelInferRequest) { r.RawInputContents = append(r.RawInputContents, nil) }),
		`both raw_input_contents and contents.fp32_contents`: bad(func(r *tritonpb.ModelInferRequest) {
			r.Inputs[0].Contents = &tritonpb.InferTensorContents{Fp32Contents: []float32{1}}
		}),
		`FP32 data goes in contents.fp32_contents, got contents.int_contents`: bad(func(r *tritonpb.ModelInferRequest) {
			r.RawInputContents = nil
			r.Inputs[0].Contents = &tritonpb.InferTensorContents{IntContents: make([]int32, 16)}
		}),
		`element 1 is 300, outside INT8's range -128..127`: bad(func(r *tritonpb.ModelInferRequest) {
			r.RawInputContents = nil
			r.Inputs[0].Datatype = "INT8"
			r.Inputs[0].Contents = &tritonpb.InferTensorContents{IntContents: []int32{1, 300}}
		}),
		`FP16 has no typed contents field`: bad(func(r *tritonpb.ModelInferRequest) {
			r.RawInputContents = nil
			r.Inputs[0].Datatype = "FP16"
			r.Inputs[0].Contents = &tritonpb.InferTensorContents{Fp32Contents: []float32{1}}
		}),
		`datatype "FLOAT" is not one of`: bad(func(r *tritonpb.ModelInferRequest) { r.Inputs[0].Datatype = "FLOAT" }),
		`model_name: empty`:              bad(func(r *tritonpb.ModelInferRequest) { r.ModelName = "" }),
		`shared memory region "r" is not registered`: bad(func(r *tritonpb.ModelInferRequest) {
			r.RawInputContents = nil
			r.Inputs[0].Parameters = map[string]*tritonpb.InferParameter{"shared_memory_region": {ParameterChoice: &tritonpb.InferParameter_StringParam{StringParam: "r"}}}
		}),
		`parameter priority: true, expected a level`: bad(func(r *tritonpb.ModelInferRequest) {
			r.Parameters = map[string]*tritonpb.InferParameter{"priority": {ParameterChoice: &tritonpb.InferParameter_BoolParam{BoolParam: true}}}
		}),
	}
	for want, r := range grpcOnly {
		_, err := f.grpc.ModelInfer(callCtx(t), r)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), want) {
			t.Errorf("%s: got %v %q", want, st.Code(), st.Message())
		}
	}
	// Parameters arrive as the registry reads them: a priority level works.
	r := studentCall("", 1)
	r.Parameters = map[string]*tritonpb.InferParameter{"priority": {ParameterChoice: &tritonpb.InferParameter_Int64Param{Int64Param: 1}},
		"timeout": {ParameterChoice: &tritonpb.InferParameter_Uint64Param{Uint64Param: 5_000_000}}}
	if _, err := f.grpc.ModelInfer(callCtx(t), r); err != nil {
		t.Errorf("a call with priority and timeout parameters: %v", err)
	}
}

func TestDeadlineExceeded(t *testing.T) {
	f := start(t, server.DefaultConfig(), func(c *grpcserver.Config) { c.InferTimeout = time.Nanosecond }, "student-success")
	_, err := f.grpc.ModelInfer(callCtx(t), studentCall("", 1))
	if code(err) != codes.DeadlineExceeded {
		t.Errorf("a call past server.infer_timeout: %v, want DeadlineExceeded", err)
	}
}

// TestRateLimitIsShared: the doors draw on one bucket, and the refusal
// says when to come back.
func TestRateLimitIsShared(t *testing.T) {
	hc := server.DefaultConfig()
	hc.ModelRateLimits = map[string]server.RateLimit{"student-success": {Rate: 0.01, Burst: 1}}
	f := start(t, hc, nil, "student-success")
	if _, err := httpCall(t, f, studentCall("", 1)); err != nil {
		t.Fatalf("the first call, within the burst: %v", err)
	}
	var header metadata.MD
	_, err := f.grpc.ModelInfer(callCtx(t), studentCall("", 1), grpc.Header(&header))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), `rate limit reached for model "student-success"`) {
		t.Errorf("the second call, over the limit, by gRPC: %v %q", st.Code(), st.Message())
	}
	if got := header.Get("retry-after"); len(got) != 1 || got[0] == "" {
		t.Errorf("retry-after metadata %v", got)
	}
}

// TestKeysAndAdminTokenThroughMetadata applies HTTP's rules to metadata.
func TestKeysAndAdminTokenThroughMetadata(t *testing.T) {
	hc := server.DefaultConfig()
	hc.APIKeys = "- {name: team-a, key: secret-a, models: [student-success]}\n- {name: team-b, key: secret-b, models: [other]}\n"
	hc.AdminToken = "admin-secret"
	f := start(t, hc, nil, "student-success")
	with := func(kv ...string) context.Context { return metadata.AppendToOutgoingContext(callCtx(t), kv...) }
	infer := []struct {
		ctx  context.Context
		code codes.Code
	}{
		{callCtx(t), codes.Unauthenticated},
		{with("authorization", "Bearer wrong"), codes.Unauthenticated},
		{with("authorization", "Bearer secret-b"), codes.PermissionDenied},
		{with("authorization", "Bearer secret-a"), codes.OK},
		{with("sluice-api-key", "secret-a"), codes.OK},
	}
	for i, c := range infer {
		if _, err := f.grpc.ModelInfer(c.ctx, studentCall("", 1)); code(err) != c.code {
			t.Errorf("inference %d: %v, want %v", i, err, c.code)
		}
	}
	admin := []struct {
		ctx  context.Context
		code codes.Code
	}{
		{callCtx(t), codes.Unauthenticated},
		{with("authorization", "Bearer secret-a"), codes.PermissionDenied},
		{with("authorization", "Bearer admin-secret"), codes.OK},
	}
	for i, c := range admin {
		if _, err := f.grpc.RepositoryIndex(c.ctx, &tritonpb.RepositoryIndexRequest{}); code(err) != c.code {
			t.Errorf("repository index %d: %v, want %v", i, err, c.code)
		}
	}
	// Health and metadata stay open, as over HTTP.
	if _, err := f.grpc.ModelMetadata(callCtx(t), &tritonpb.ModelMetadataRequest{Name: "student-success"}); err != nil {
		t.Errorf("metadata without a key: %v", err)
	}
}

// httpCall sends req's raw inputs to the HTTP door as binary tensors.
func httpCall(t *testing.T, f *fixture, req *tritonpb.ModelInferRequest) (*tensor.Response, error) {
	t.Helper()
	var inputs []tensor.Tensor
	for i, in := range req.Inputs {
		dt, err := tensor.ParseDataType(in.Datatype)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, tensor.Tensor{Name: in.Name, DataType: dt, Shape: in.Shape, Data: req.RawInputContents[i]})
	}
	var outputs []string
	for _, o := range req.Outputs {
		outputs = append(outputs, o.Name)
	}
	c := client.New(f.httpURL, 1)
	defer c.CloseIdle()
	return c.Infer(callCtx(t), req.ModelName, req.ModelVersion, inputs, client.Options{Binary: true, Outputs: outputs})
}

// checkSame holds the gRPC error to code and to the HTTP error's status
// and message.
func checkSame(t *testing.T, gerr, herr error, want codes.Code) {
	t.Helper()
	st := status.Convert(gerr)
	var se *client.StatusError
	if !errors.As(herr, &se) {
		t.Fatalf("HTTP: %v, want a status error", herr)
	}
	if st.Code() != want || se.Status != httpStatusOf[want] || st.Message() != se.Message {
		t.Errorf("gRPC %v %q; HTTP %d %q; want %v and the same message", st.Code(), st.Message(), se.Status, se.Message, want)
	}
}

// TestConnectionLimit: server.max_connections bounds the gRPC port's
// connections too; one more is closed and counted.
func TestConnectionLimit(t *testing.T) {
	hc := server.DefaultConfig()
	hc.MaxConnections = 1
	f := start(t, hc, nil)
	if _, err := f.grpc.ServerLive(callCtx(t), &tritonpb.ServerLiveRequest{}); err != nil {
		t.Fatalf("the first connection: %v", err)
	}
	conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tritonpb.NewGRPCInferenceServiceClient(conn).ServerLive(ctx, &tritonpb.ServerLiveRequest{}); err == nil {
		t.Error("a second connection was served past server.max_connections 1")
	}
	if n := counted(t, f, "sluice_http_refused_total", map[string]string{"reason": "connections"}); n < 1 {
		t.Errorf("sluice_http_refused_total{reason=connections} = %v", n)
	}
}
