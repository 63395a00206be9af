package client

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/tensor"
)

type wireOutput struct {
	Name       string            `json:"name"`
	DataType   string            `json:"datatype"`
	Shape      []int64           `json:"shape"`
	Data       []json.RawMessage `json:"data"`
	Parameters map[string]any    `json:"parameters"`
}

// decodeResponse reads a JSON or binary-tensor answer into tensors.
func decodeResponse(resp *fasthttp.Response) (*Response, error) {
	body := resp.Body()
	header, bin := body, []byte(nil)
	if h := resp.Header.Peek("Inference-Header-Content-Length"); h != nil {
		n, err := strconv.Atoi(string(h))
		if err != nil || n > len(body) {
			return nil, fmt.Errorf("bad Inference-Header-Content-Length %q for %d bytes", h, len(body))
		}
		header, bin = body[:n], body[n:]
	}
	var w struct {
		ModelName    string       `json:"model_name"`
		ModelVersion string       `json:"model_version"`
		ID           string       `json:"id"`
		Outputs      []wireOutput `json:"outputs"`
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	out := &Response{ModelName: w.ModelName, ModelVersion: w.ModelVersion, ID: w.ID}
	for _, o := range w.Outputs {
		dt, err := tensor.ParseDataType(o.DataType)
		if err != nil {
			return nil, err
		}
		t := tensor.Tensor{Name: o.Name, DataType: dt, Shape: o.Shape}
		if size, ok := o.Parameters["binary_data_size"]; ok {
			n, err := strconv.Atoi(fmt.Sprint(size))
			if err != nil || n > len(bin) {
				return nil, fmt.Errorf("output %q: binary_data_size %v past the %d bytes left", o.Name, size, len(bin))
			}
			t.Data, bin = append([]byte(nil), bin[:n]...), bin[n:]
		} else if t.Data, err = fromJSON(dt, o.Data); err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		out.Outputs = append(out.Outputs, t)
	}
	return out, nil
}

// ParseInputs reads the "inputs" of a v2 request body (JSON) into tensors,
// for load tests that send recorded data.
func ParseInputs(body []byte) ([]tensor.Tensor, error) {
	var req struct {
		Inputs []wireOutput `json:"inputs"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("reading inputs: %w", err)
	}
	var out []tensor.Tensor
	for _, in := range req.Inputs {
		dt, err := tensor.ParseDataType(in.DataType)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		data, err := fromJSON(dt, flatten(in.Data))
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		out = append(out, tensor.Tensor{Name: in.Name, DataType: dt, Shape: in.Shape, Data: data})
	}
	return out, nil
}

// flatten unnests row-major nested arrays.
func flatten(data []json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	for _, e := range data {
		if len(e) > 0 && e[0] == '[' {
			var inner []json.RawMessage
			if json.Unmarshal(e, &inner) == nil {
				out = append(out, flatten(inner)...)
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// fromJSON turns JSON elements into little-endian bytes of type dt.
func fromJSON(dt tensor.DataType, data []json.RawMessage) ([]byte, error) {
	le := binary.LittleEndian
	var b []byte
	for _, e := range data {
		s := string(e)
		switch dt {
		case tensor.Bytes:
			var str string
			if err := json.Unmarshal(e, &str); err != nil {
				return nil, err
			}
			b = tensor.AppendBytesElement(b, []byte(str))
			continue
		case tensor.Bool:
			b = append(b, boolByte(s == "true"))
			continue
		}
		switch dt {
		case tensor.FP32, tensor.FP16, tensor.FP64:
			f := math.NaN() // null: the server's NaN or infinity
			if s != "null" {
				var err error
				if f, err = strconv.ParseFloat(s, 64); err != nil {
					return nil, err
				}
			}
			switch dt {
			case tensor.FP32:
				b = le.AppendUint32(b, math.Float32bits(float32(f)))
			case tensor.FP16:
				b = le.AppendUint16(b, tensor.HalfFromFloat32(float32(f)))
			default:
				b = le.AppendUint64(b, math.Float64bits(f))
			}
		case tensor.Uint64:
			u, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, err
			}
			b = le.AppendUint64(b, u)
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, err
			}
			switch dt.Size() {
			case 1:
				b = append(b, byte(v))
			case 2:
				b = le.AppendUint16(b, uint16(v))
			case 4:
				b = le.AppendUint32(b, uint32(v))
			default:
				b = le.AppendUint64(b, uint64(v))
			}
		}
	}
	return b, nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
