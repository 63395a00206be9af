package v2

import (
	"slices"
	"strconv"

	"github.com/sluice-serving/sluice/tensor"
)

// AppendResponse appends resp to dst laid out as call asked: the JSON
// header, then the binary outputs' bytes in order. headerLen is the
// header's length, the value for Inference-Header-Content-Length, or -1
// when the answer is all JSON. A nil call asks for JSON.
func AppendResponse(dst []byte, resp *tensor.Response, call *Call) (out []byte, headerLen int) {
	dst = slices.Grow(dst, responseSize(resp, call))
	start := len(dst)
	dst, anyBinary := appendResponseHeader(dst, resp, call)
	if !anyBinary && !call.Binary() {
		return dst, -1
	}
	headerLen = len(dst) - start
	for i := range resp.Outputs {
		if call.binaryFor(i, resp.Outputs[i].Name) {
			dst = append(dst, resp.Outputs[i].Data...)
		}
	}
	return dst, headerLen
}

func appendResponseHeader(dst []byte, resp *tensor.Response, call *Call) (out []byte, anyBinary bool) {
	dst = append(dst, `{"model_name":`...)
	dst = AppendString(dst, resp.ModelName)
	dst = append(dst, `,"model_version":`...)
	dst = AppendString(dst, resp.ModelVersion)
	if resp.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = AppendString(dst, resp.ID)
	}
	dst = append(dst, `,"outputs":[`...)
	for i := range resp.Outputs {
		if i > 0 {
			dst = append(dst, ',')
		}
		bin := call.binaryFor(i, resp.Outputs[i].Name)
		dst = appendTensor(dst, &resp.Outputs[i], bin)
		anyBinary = anyBinary || bin
	}
	return append(dst, "]}"...), anyBinary
}

// AppendRequest appends req to dst as an infer request body. With
// binaryInputs every input's data follows the JSON header as raw bytes
// (Triton's binary tensor extension) and headerLen is the header's length,
// the value for Inference-Header-Content-Length; otherwise the inputs go as
// JSON and headerLen is -1. A listed output whose Binary differs from the
// request's binary_data_output parameter gets its own binary_data. An input
// whose data does not hold what its shape promises is an error, as is a
// parameter JSON cannot hold.
func AppendRequest(dst []byte, req *tensor.Request, binaryInputs bool) (out []byte, headerLen int, err error) {
	for i := range req.Inputs {
		if err := req.Inputs[i].CheckData(); err != nil {
			return dst, -1, err
		}
	}
	dst = slices.Grow(dst, requestSize(req, binaryInputs))
	start := len(dst)
	dst, err = appendRequestHeader(dst, req, binaryInputs)
	if err != nil || !binaryInputs {
		return dst, -1, err
	}
	headerLen = len(dst) - start
	for i := range req.Inputs {
		dst = append(dst, req.Inputs[i].Data...)
	}
	return dst, headerLen, nil
}

func appendRequestHeader(dst []byte, req *tensor.Request, binaryInputs bool) ([]byte, error) {
	dst = append(dst, '{')
	if req.ID != "" {
		dst = append(dst, `"id":`...)
		dst = AppendString(dst, req.ID)
		dst = append(dst, ',')
	}
	dst = append(dst, `"inputs":[`...)
	for i := range req.Inputs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTensor(dst, &req.Inputs[i], binaryInputs)
	}
	dst = appendOutputRequests(append(dst, ']'), req)
	if req.Parameters != nil {
		var err error
		if dst, err = appendParams(append(dst, `,"parameters":`...), req.Parameters); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func appendOutputRequests(dst []byte, req *tensor.Request) []byte {
	if len(req.Outputs) == 0 {
		return dst
	}
	byDefault, _ := req.Parameters["binary_data_output"].(bool)
	dst = append(dst, `,"outputs":[`...)
	for i, o := range req.Outputs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = AppendString(dst, o.Name)
		if o.Binary != byDefault {
			dst = append(dst, `,"parameters":{"binary_data":`...)
			dst = strconv.AppendBool(dst, o.Binary)
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendTensor writes a tensor object: its header, then its data as JSON
// or, when bin, the size of its bytes in the binary section.
func appendTensor(dst []byte, t *tensor.Tensor, bin bool) []byte {
	dst = append(dst, `{"name":`...)
	dst = AppendString(dst, t.Name)
	dst = append(dst, `,"datatype":"`...)
	dst = append(dst, t.DataType.String()...)
	dst = append(dst, `","shape":`...)
	dst = appendShape(dst, t.Shape)
	if bin {
		dst = append(dst, `,"parameters":{"binary_data_size":`...)
		dst = strconv.AppendInt(dst, int64(len(t.Data)), 10)
		return append(dst, "}}"...)
	}
	dst = append(dst, `,"data":`...)
	return append(appendData(dst, t), '}')
}

func appendShape(dst []byte, shape []int64) []byte {
	dst = append(dst, '[')
	for i, d := range shape {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, d, 10)
	}
	return append(dst, ']')
}

// jsonWidth is the most characters a JSON element of each type takes,
// with its comma: what sizing a buffer for JSON data needs.
var jsonWidth = [...]int{
	tensor.Bool: 6, tensor.Uint8: 4, tensor.Uint16: 6, tensor.Uint32: 11, tensor.Uint64: 21,
	tensor.Int8: 5, tensor.Int16: 7, tensor.Int32: 12, tensor.Int64: 21,
	tensor.FP16: 14, tensor.FP32: 15, tensor.FP64: 25, tensor.Bytes: 0,
	tensor.BF16: 16, // as in "-1.09320975e-36,"
}

// tensorSize is about what appendTensor and the binary section take for
// t: exact for binary data, the widest for JSON numbers, and for BYTES
// their length (an escaped string runs past it and append grows the
// buffer). Sizing the buffer once matters when fasthttp's pool has dropped
// the big one: growing by doubling allocates twice the answer.
func tensorSize(t *tensor.Tensor, bin bool) int {
	n := 96 + len(t.Name) + 21*len(t.Shape) + len(t.Data)
	if size := t.DataType.Size(); !bin && size > 0 && int(t.DataType) < len(jsonWidth) {
		n += len(t.Data) / size * (jsonWidth[t.DataType] - size)
	}
	return n
}

func responseSize(resp *tensor.Response, call *Call) int {
	n := 64 + len(resp.ModelName) + len(resp.ModelVersion) + len(resp.ID)
	for i := range resp.Outputs {
		n += tensorSize(&resp.Outputs[i], call.binaryFor(i, resp.Outputs[i].Name))
	}
	return n
}

func requestSize(req *tensor.Request, bin bool) int {
	n := 64 + len(req.ID) + 64*len(req.Outputs)
	for i := range req.Inputs {
		n += tensorSize(&req.Inputs[i], bin)
	}
	return n
}
