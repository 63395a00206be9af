package client

import (
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// RPCError is a gRPC call the server answered with a status other than
// OK: the gRPC counterpart of StatusError.
type RPCError struct {
	Code    codes.Code
	Message string
	// RetryAfter is the server's retry-after metadata, which Sluice sends
	// with a rate-limit refusal only; "" for none.
	RetryAfter string
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// HTTPStatus is the status Sluice's HTTP door answers for the same
// outcome, so a load harness counts both transports alike. Sluice maps a
// full queue and a rate limit alike to ResourceExhausted; the retry-after
// metadata it adds to a rate-limit refusal tells them apart (429, else
// 503). A message over the server's size limit is ResourceExhausted too,
// and counts as 503 where HTTP answers 413.
func (e *RPCError) HTTPStatus() int {
	switch e.Code {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.ResourceExhausted:
		if e.RetryAfter != "" {
			return http.StatusTooManyRequests
		}
		return http.StatusServiceUnavailable
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// answerError is a failed call's error: an *RPCError when the server
// answered, else the transport's error naming the method. gRPC reports a
// refused connection or a passed deadline as statuses too (Unavailable,
// DeadlineExceeded); only an answer comes with metadata, if only the
// content-type every gRPC server sends.
func answerError(method string, err error, hdr, tr metadata.MD) error {
	name := method[strings.LastIndexByte(method, '/')+1:]
	st, ok := status.FromError(err)
	if !ok || len(hdr)+len(tr) == 0 {
		return fmt.Errorf("%s: %w", name, err)
	}
	return &RPCError{Code: st.Code(), Message: st.Message(), RetryAfter: firstMD(hdr, retryAfterMD)}
}

// inferRequest is the ModelInferRequest for inputs, their data in
// raw_input_contents.
func inferRequest(model, version string, inputs []tensor.Tensor, opt Options) (*tritonpb.ModelInferRequest, error) {
	req := &tritonpb.ModelInferRequest{ModelName: model, ModelVersion: version,
		Inputs:           make([]*tritonpb.ModelInferRequest_InferInputTensor, len(inputs)),
		RawInputContents: make([][]byte, len(inputs))}
	for i := range inputs {
		in := &inputs[i]
		if err := in.CheckData(); err != nil {
			return nil, err
		}
		req.Inputs[i] = &tritonpb.ModelInferRequest_InferInputTensor{Name: in.Name, Datatype: in.DataType.String(), Shape: in.Shape}
		req.RawInputContents[i] = in.Data
	}
	for _, name := range opt.Outputs {
		req.Outputs = append(req.Outputs, &tritonpb.ModelInferRequest_InferRequestedOutputTensor{Name: name})
	}
	if len(opt.Parameters) > 0 {
		req.Parameters = make(map[string]*tritonpb.InferParameter, len(opt.Parameters))
		for k, v := range opt.Parameters {
			p, err := inferParameter(v)
			if err != nil {
				return nil, fmt.Errorf("parameter %q: %w", k, err)
			}
			req.Parameters[k] = p
		}
	}
	return req, nil
}

// inferParameter is v as InferParameter's choice for its type.
func inferParameter(v any) (*tritonpb.InferParameter, error) {
	p := &tritonpb.InferParameter{}
	switch v := v.(type) {
	case bool:
		p.ParameterChoice = &tritonpb.InferParameter_BoolParam{BoolParam: v}
	case string:
		p.ParameterChoice = &tritonpb.InferParameter_StringParam{StringParam: v}
	case int:
		p.ParameterChoice = &tritonpb.InferParameter_Int64Param{Int64Param: int64(v)}
	case int32:
		p.ParameterChoice = &tritonpb.InferParameter_Int64Param{Int64Param: int64(v)}
	case int64:
		p.ParameterChoice = &tritonpb.InferParameter_Int64Param{Int64Param: v}
	case uint:
		p.ParameterChoice = &tritonpb.InferParameter_Uint64Param{Uint64Param: uint64(v)}
	case uint32:
		p.ParameterChoice = &tritonpb.InferParameter_Uint64Param{Uint64Param: uint64(v)}
	case uint64:
		p.ParameterChoice = &tritonpb.InferParameter_Uint64Param{Uint64Param: v}
	case float32:
		p.ParameterChoice = &tritonpb.InferParameter_DoubleParam{DoubleParam: float64(v)}
	case float64:
		p.ParameterChoice = &tritonpb.InferParameter_DoubleParam{DoubleParam: v}
	default:
		return nil, fmt.Errorf("a %T; expected a bool, an integer, a float or a string, the values gRPC's InferParameter carries", v)
	}
	return p, nil
}

// fromInferResponse converts an answer whose outputs are in
// raw_output_contents (Triton's gRPC answers and Sluice's), checking each
// output's data against its shape.
func fromInferResponse(r *tritonpb.ModelInferResponse) (*tensor.Response, error) {
	if len(r.RawOutputContents) != len(r.Outputs) {
		return nil, fmt.Errorf("decoding the answer: %d raw_output_contents for %d outputs; expected one per output", len(r.RawOutputContents), len(r.Outputs))
	}
	out := &tensor.Response{ModelName: r.ModelName, ModelVersion: r.ModelVersion, ID: r.Id, Outputs: make([]tensor.Tensor, len(r.Outputs))}
	for i, o := range r.Outputs {
		dt, err := tensor.ParseDataType(o.Datatype)
		if err != nil {
			return nil, fmt.Errorf("decoding the answer: output %q: %w", o.Name, err)
		}
		out.Outputs[i] = tensor.Tensor{Name: o.Name, DataType: dt, Shape: o.Shape, Data: r.RawOutputContents[i]}
		if err := checkOutput(&out.Outputs[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkOutput verifies that an output's data holds exactly the elements
// its shape promises. tensor's CheckData does the checking; its messages
// speak of inputs.
func checkOutput(t *tensor.Tensor) error {
	if t.CheckData() == nil {
		return nil
	}
	if t.DataType == tensor.Bytes {
		return fmt.Errorf("decoding the answer: output %q: %d bytes are not the %d BYTES elements of shape %s", t.Name, len(t.Data), tensor.Elements(t.Shape), tensor.FormatShape(t.Shape))
	}
	want := float64(t.DataType.Size()) // in floating point: a hostile shape cannot overflow it
	for _, d := range t.Shape {
		want *= float64(d)
	}
	return fmt.Errorf("decoding the answer: output %q: shape %s of %s needs %.0f bytes, got %d", t.Name, tensor.FormatShape(t.Shape), t.DataType, want, len(t.Data))
}

func toModelMeta(r *tritonpb.ModelMetadataResponse) *ModelMeta {
	m := &ModelMeta{Name: r.Name, Versions: r.Versions, Platform: r.Platform}
	for _, t := range r.Inputs {
		m.Inputs = append(m.Inputs, TensorMeta{Name: t.Name, DataType: t.Datatype, Shape: t.Shape})
	}
	for _, t := range r.Outputs {
		m.Outputs = append(m.Outputs, TensorMeta{Name: t.Name, DataType: t.Datatype, Shape: t.Shape})
	}
	return m
}

func toModelStats(r *tritonpb.ModelStatisticsResponse) []ModelStats {
	out := make([]ModelStats, 0, len(r.ModelStats))
	for _, s := range r.ModelStats {
		var m ModelStats
		m.Name, m.Version = s.Name, s.Version
		m.InferenceCount, m.ExecutionCount = int64(s.InferenceCount), int64(s.ExecutionCount)
		is := s.InferenceStats // nil reads as zeros
		m.InferenceStats.Success, m.InferenceStats.Fail = duration(is.GetSuccess()), duration(is.GetFail())
		m.InferenceStats.Queue = duration(is.GetQueue())
		m.InferenceStats.ComputeInput = duration(is.GetComputeInput())
		m.InferenceStats.ComputeInfer = duration(is.GetComputeInfer())
		m.InferenceStats.ComputeOutput = duration(is.GetComputeOutput())
		out = append(out, m)
	}
	return out
}

func duration(d *tritonpb.StatisticDuration) Duration {
	return Duration{Count: int64(d.GetCount()), NS: int64(d.GetNs())}
}
