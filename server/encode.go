package server

import (
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/sluice-serving/sluice/tensor"
)

// appendInferResponse writes the response's JSON header to dst and returns
// it with the binary outputs' bytes, in order, to follow the header.
func appendInferResponse(dst []byte, resp *tensor.Response, call *inferCall) ([]byte, [][]byte) {
	var bins [][]byte
	dst = append(dst, `{"model_name":`...)
	dst = appendJSONString(dst, resp.ModelName)
	dst = append(dst, `,"model_version":`...)
	dst = appendJSONString(dst, resp.ModelVersion)
	if resp.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = appendJSONString(dst, resp.ID)
	}
	dst = append(dst, `,"outputs":[`...)
	for i := range resp.Outputs {
		if i > 0 {
			dst = append(dst, ',')
		}
		out := &resp.Outputs[i]
		bin := call.allBinary
		if len(call.req.Outputs) > 0 {
			bin = call.req.Outputs[i].Binary
		}
		dst = appendOutputHeader(dst, out)
		if bin {
			dst = append(dst, `,"parameters":{"binary_data_size":`...)
			dst = strconv.AppendInt(dst, int64(len(out.Data)), 10)
			dst = append(dst, "}}"...)
			bins = append(bins, out.Data)
			continue
		}
		dst = append(dst, `,"data":`...)
		dst = appendData(dst, out)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), bins
}

func appendOutputHeader(dst []byte, t *tensor.Tensor) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendJSONString(dst, t.Name)
	dst = append(dst, `,"datatype":"`...)
	dst = append(dst, t.DataType.String()...)
	dst = append(dst, `","shape":`...)
	return appendShape(dst, t.Shape)
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

// appendData writes a tensor's elements as a flat JSON array.
func appendData(dst []byte, t *tensor.Tensor) []byte {
	dst = append(dst, '[')
	b := t.Data
	le := binary.LittleEndian
	if t.DataType == tensor.Bytes {
		for i := 0; len(b) >= 4; i++ {
			n := le.Uint32(b)
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, string(b[4:4+n]))
			b = b[4+n:]
		}
		return append(dst, ']')
	}
	size := t.DataType.Size()
	for i := 0; i+size <= len(b); i += size {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendElement(dst, t.DataType, b[i:i+size])
	}
	return append(dst, ']')
}

func appendElement(dst []byte, dt tensor.DataType, e []byte) []byte {
	le := binary.LittleEndian
	switch dt {
	case tensor.Bool:
		return strconv.AppendBool(dst, e[0] != 0)
	case tensor.Uint8:
		return strconv.AppendUint(dst, uint64(e[0]), 10)
	case tensor.Uint16:
		return strconv.AppendUint(dst, uint64(le.Uint16(e)), 10)
	case tensor.Uint32:
		return strconv.AppendUint(dst, uint64(le.Uint32(e)), 10)
	case tensor.Uint64:
		return strconv.AppendUint(dst, le.Uint64(e), 10)
	case tensor.Int8:
		return strconv.AppendInt(dst, int64(int8(e[0])), 10)
	case tensor.Int16:
		return strconv.AppendInt(dst, int64(int16(le.Uint16(e))), 10)
	case tensor.Int32:
		return strconv.AppendInt(dst, int64(int32(le.Uint32(e))), 10)
	case tensor.Int64:
		return strconv.AppendInt(dst, int64(le.Uint64(e)), 10)
	case tensor.FP16:
		return appendFloat(dst, float64(tensor.Float32FromHalf(le.Uint16(e))), 32)
	case tensor.FP32:
		return appendFloat(dst, float64(math.Float32frombits(le.Uint32(e))), 32)
	}
	return appendFloat(dst, math.Float64frombits(le.Uint64(e)), 64)
}

// appendFloat writes the shortest decimal that reads back to the same
// value; JSON has no NaN or infinity, so those become null.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string. Bytes that are not UTF-8
// (BYTES tensors may hold any) are written as the code point of the same
// value, so the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, rune(c))
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
	}
	return append(dst, '"')
}
