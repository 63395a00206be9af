package grpcserver

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// call is one ModelInferRequest on its way through the registry: it becomes
// a tensor.Request only once the call is admitted, so a refused call costs
// no conversion.
type call struct {
	in  *tritonpb.ModelInferRequest
	req tensor.Request
	// timeout is server.infer_timeout, carried as Request.Timeout for the
	// batcher's one expiry timer, as the HTTP door does.
	timeout time.Duration
	shm     *regions
	held    []*region         // shared-memory regions the call reads or writes, held until it ends
	out     map[string][]byte // outputs to write into shared memory, by name
}

// Request converts the message. Raw contents and shared memory are used
// in place: the message lives until the reply is sent, a region while the
// call holds it, and the batcher copies inputs before it lets a caller go.
func (c *call) Request() (*tensor.Request, error) {
	if err := c.convert(); err != nil {
		return nil, err
	}
	c.req.Timeout = c.timeout
	return &c.req, nil
}

// ModelInfer runs one inference call through the same path as HTTP's.
func (s *Server) ModelInfer(ctx context.Context, in *tritonpb.ModelInferRequest) (*tritonpb.ModelInferResponse, error) {
	resp, err := s.infer(ctx, in)
	if err != nil {
		if after, ok := s.gate.RetryAfter(err); ok {
			_ = grpc.SetHeader(ctx, metadata.Pairs("retry-after", after))
		}
		return nil, err
	}
	// A header for what HTTP's Sluice-Model-Version says; the message's
	// model_version says it too.
	_ = grpc.SetHeader(ctx, metadata.Pairs("sluice-model-version", resp.ModelVersion))
	return resp, nil
}

func (s *Server) infer(ctx context.Context, in *tritonpb.ModelInferRequest) (*tritonpb.ModelInferResponse, error) {
	if in.ModelName == "" {
		return nil, tensor.Errorf(tensor.InvalidArgument, "model_name: empty; expected the name of a model to run")
	}
	if err := s.gate.AdmitInference(presentedKey(ctx), in.ModelName); err != nil {
		return nil, err
	}
	c := &call{in: in, shm: &s.shm, timeout: s.cfg.InferTimeout}
	defer func() { s.shm.release(c.held) }()
	resp, err := s.models.InferDeferred(ctx, in.ModelName, in.ModelVersion, firstMetadata(ctx, s.cfg.RoutingKey), c)
	if err != nil {
		return nil, err
	}
	return c.response(resp)
}

// presentedKey reads "authorization: Bearer <key>", else "sluice-api-key",
// the metadata forms of HTTP's headers.
func presentedKey(ctx context.Context) []byte {
	const bearer = "bearer "
	if auth := firstMetadata(ctx, "authorization"); len(auth) > len(bearer) && strings.EqualFold(auth[:len(bearer)], bearer) {
		return []byte(auth[len(bearer):])
	}
	return []byte(firstMetadata(ctx, "sluice-api-key"))
}

// convert fills c.req from the message. Each input's data is its
// shared-memory region, or its entry of raw_input_contents (which, when
// used, holds one entry per input not in shared memory, in order), or its
// typed contents.
func (c *call) convert() error {
	in, req := c.in, &c.req
	raw, rawUsed := in.RawInputContents, len(in.RawInputContents) > 0
	if rawUsed && len(raw) != rawInputs(in) {
		return tensor.Errorf(tensor.InvalidArgument, "raw_input_contents: %d entries for %d inputs not in shared memory; expected one each, in the order of inputs", len(raw), rawInputs(in))
	}
	params, err := parameters("parameters", in.Parameters)
	if err != nil {
		return err
	}
	req.ID, req.Parameters = in.Id, params
	req.Inputs = make([]tensor.Tensor, len(in.Inputs))
	for i, t := range in.Inputs {
		dt, err := tensor.ParseDataType(t.Datatype)
		if err != nil {
			return tensor.Errorf(tensor.InvalidArgument, "input %q: %w", t.Name, err)
		}
		data, inShm, err := c.shm.use("input", t.Name, t.Parameters, &c.held)
		if err != nil {
			return err
		}
		from := "raw_input_contents"
		if inShm {
			from = "shared memory"
		}
		switch f := populated(t.Contents); {
		case (inShm || rawUsed) && f != "":
			return tensor.Errorf(tensor.InvalidArgument, "input %q: both %s and contents.%s; expected one", t.Name, from, f)
		case inShm:
		case rawUsed:
			data, raw = raw[0], raw[1:]
		default:
			if data, err = contentsBytes(t.Name, dt, t.Contents); err != nil {
				return err
			}
		}
		req.Inputs[i] = tensor.Tensor{Name: t.Name, DataType: dt, Shape: t.Shape, Data: data}
		if err := req.Inputs[i].CheckData(); err != nil {
			return err
		}
	}
	req.Outputs = req.Outputs[:0]
	for _, o := range in.Outputs {
		dst, inShm, err := c.shm.use("output", o.Name, o.Parameters, &c.held)
		if err != nil {
			return err
		}
		if inShm {
			if c.out == nil {
				c.out = map[string][]byte{}
			}
			c.out[o.Name] = dst
		}
		req.Outputs = append(req.Outputs, tensor.OutputRequest{Name: o.Name})
	}
	return nil
}

// rawInputs counts the inputs raw_input_contents must cover: those not in
// shared memory, as Triton's clients send them.
func rawInputs(in *tritonpb.ModelInferRequest) int {
	n := 0
	for _, t := range in.Inputs {
		if _, ok := t.Parameters["shared_memory_region"]; !ok {
			n++
		}
	}
	return n
}

// response answers with every output's bytes in raw_output_contents, as
// Triton's gRPC endpoint does (the bytes are the response's own, not
// copied), except those the caller asked for in shared memory: written
// there, with an empty entry that keeps the others at their index.
func (c *call) response(r *tensor.Response) (*tritonpb.ModelInferResponse, error) {
	out := &tritonpb.ModelInferResponse{ModelName: r.ModelName, ModelVersion: r.ModelVersion, Id: r.ID,
		Outputs:           make([]*tritonpb.ModelInferResponse_InferOutputTensor, len(r.Outputs)),
		RawOutputContents: make([][]byte, len(r.Outputs))}
	for i := range r.Outputs {
		t := &r.Outputs[i]
		o := &tritonpb.ModelInferResponse_InferOutputTensor{Name: t.Name, Datatype: t.DataType.String(), Shape: t.Shape}
		out.Outputs[i] = o
		dst, inShm := c.out[t.Name]
		if !inShm {
			out.RawOutputContents[i] = t.Data
			continue
		}
		if len(t.Data) > len(dst) {
			return nil, tensor.Errorf(tensor.InvalidArgument, "output %q: %d bytes do not fit the %d of its shared memory region", t.Name, len(t.Data), len(dst))
		}
		copy(dst, t.Data)
		o.Parameters = map[string]*tritonpb.InferParameter{
			"shared_memory_byte_size": {ParameterChoice: &tritonpb.InferParameter_Int64Param{Int64Param: int64(len(t.Data))}},
		}
	}
	return out, nil
}

// parameters converts request parameters to the values registry reads
// (priority and timeout as int64, as JSON's integers arrive).
func parameters(where string, in map[string]*tritonpb.InferParameter) (tensor.Parameters, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(tensor.Parameters, len(in))
	for k, p := range in {
		switch v := p.GetParameterChoice().(type) {
		case *tritonpb.InferParameter_BoolParam:
			out[k] = v.BoolParam
		case *tritonpb.InferParameter_Int64Param:
			out[k] = v.Int64Param
		case *tritonpb.InferParameter_StringParam:
			out[k] = v.StringParam
		case *tritonpb.InferParameter_DoubleParam:
			out[k] = v.DoubleParam
		case *tritonpb.InferParameter_Uint64Param:
			if v.Uint64Param > math.MaxInt64 {
				return nil, tensor.Errorf(tensor.InvalidArgument, "%s[%q]: %d is past the largest integer parameter, %d", where, k, v.Uint64Param, int64(math.MaxInt64))
			}
			out[k] = int64(v.Uint64Param)
		default:
			return nil, tensor.Errorf(tensor.InvalidArgument, "%s[%q]: no value; expected a bool, int64, uint64, double or string", where, k)
		}
	}
	return out, nil
}

// populated names the first typed contents field holding values, "" for
// none.
func populated(c *tritonpb.InferTensorContents) string {
	switch {
	case c == nil:
		return ""
	case len(c.BoolContents) > 0:
		return "bool_contents"
	case len(c.IntContents) > 0:
		return "int_contents"
	case len(c.Int64Contents) > 0:
		return "int64_contents"
	case len(c.UintContents) > 0:
		return "uint_contents"
	case len(c.Uint64Contents) > 0:
		return "uint64_contents"
	case len(c.Fp32Contents) > 0:
		return "fp32_contents"
	case len(c.Fp64Contents) > 0:
		return "fp64_contents"
	case len(c.BytesContents) > 0:
		return "bytes_contents"
	}
	return ""
}

// contentsField is the typed contents field that carries dt, as Triton
// defines them; FP16 and BF16 have none and travel raw.
func contentsField(dt tensor.DataType) string {
	switch dt {
	case tensor.Bool:
		return "bool_contents"
	case tensor.Int8, tensor.Int16, tensor.Int32:
		return "int_contents"
	case tensor.Int64:
		return "int64_contents"
	case tensor.Uint8, tensor.Uint16, tensor.Uint32:
		return "uint_contents"
	case tensor.Uint64:
		return "uint64_contents"
	case tensor.FP32:
		return "fp32_contents"
	case tensor.FP64:
		return "fp64_contents"
	case tensor.Bytes:
		return "bytes_contents"
	}
	return ""
}

// contentsBytes encodes typed contents as the little-endian elements a
// tensor holds, refusing a field that does not carry dt and a value out of
// dt's range.
func contentsBytes(name string, dt tensor.DataType, c *tritonpb.InferTensorContents) ([]byte, error) {
	want, got := contentsField(dt), populated(c)
	switch {
	case want == "":
		return nil, tensor.Errorf(tensor.InvalidArgument, "input %q: %s has no typed contents field; send it in raw_input_contents", name, dt)
	case got == "":
		return nil, nil // an empty tensor; CheckData holds it to its shape
	case got != want:
		return nil, tensor.Errorf(tensor.InvalidArgument, "input %q: %s data goes in contents.%s, got contents.%s", name, dt, want, got)
	}
	var b []byte
	switch dt {
	case tensor.Bool:
		b = make([]byte, len(c.BoolContents))
		for i, v := range c.BoolContents {
			if v {
				b[i] = 1
			}
		}
	case tensor.Int8, tensor.Int16, tensor.Int32:
		lo, hi := int32(math.MinInt32), int32(math.MaxInt32)
		if dt == tensor.Int8 {
			lo, hi = math.MinInt8, math.MaxInt8
		} else if dt == tensor.Int16 {
			lo, hi = math.MinInt16, math.MaxInt16
		}
		b = make([]byte, 0, len(c.IntContents)*dt.Size())
		for i, v := range c.IntContents {
			if v < lo || v > hi {
				return nil, tensor.Errorf(tensor.InvalidArgument, "input %q: element %d is %d, outside %s's range %d..%d", name, i, v, dt, lo, hi)
			}
			b = appendLE(b, uint64(uint32(v)), dt.Size())
		}
	case tensor.Uint8, tensor.Uint16, tensor.Uint32:
		hi := uint32(math.MaxUint32)
		if dt == tensor.Uint8 {
			hi = math.MaxUint8
		} else if dt == tensor.Uint16 {
			hi = math.MaxUint16
		}
		b = make([]byte, 0, len(c.UintContents)*dt.Size())
		for i, v := range c.UintContents {
			if v > hi {
				return nil, tensor.Errorf(tensor.InvalidArgument, "input %q: element %d is %d, past %s's largest, %d", name, i, v, dt, hi)
			}
			b = appendLE(b, uint64(v), dt.Size())
		}
	case tensor.Int64:
		b = make([]byte, 0, 8*len(c.Int64Contents))
		for _, v := range c.Int64Contents {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	case tensor.Uint64:
		b = make([]byte, 0, 8*len(c.Uint64Contents))
		for _, v := range c.Uint64Contents {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	case tensor.FP32:
		b = make([]byte, 0, 4*len(c.Fp32Contents))
		for _, v := range c.Fp32Contents {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	case tensor.FP64:
		b = make([]byte, 0, 8*len(c.Fp64Contents))
		for _, v := range c.Fp64Contents {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	case tensor.Bytes:
		for _, e := range c.BytesContents {
			b = tensor.AppendBytesElement(b, e)
		}
	}
	return b, nil
}

// appendLE appends the low size bytes of v, little-endian.
func appendLE(b []byte, v uint64, size int) []byte {
	for i := range size {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
