package v2

import (
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/sluice-serving/sluice/tensor"
)

// appendData writes a tensor's elements as a flat JSON array. It stops at
// a partial element or a BYTES length that runs past the data rather than
// read beyond it; the shape check on the other side then names the tensor.
func appendData(dst []byte, t *tensor.Tensor) []byte {
	dst = append(dst, '[')
	b := t.Data
	if t.DataType == tensor.Bytes {
		for i := 0; len(b) >= 4; i++ {
			n := binary.LittleEndian.Uint32(b)
			if uint64(n) > uint64(len(b)-4) {
				break
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, string(b[4:4+n]))
			b = b[4+n:]
		}
		return append(dst, ']')
	}
	size := t.DataType.Size()
	for i := 0; size > 0 && i+size <= len(b); i += size {
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
	case tensor.BF16:
		// The shortest decimal that reads back to the same float32 reads
		// back to the same bfloat16, which every float32 holds exactly.
		return appendFloat(dst, float64(tensor.Float32FromBFloat16(le.Uint16(e))), 32)
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

// AppendString appends s as a JSON string, the way the codec writes every
// name and BYTES element: bytes that are not UTF-8 (BYTES may hold any)
// become the code point of the same value, so the output is always valid
// JSON. The server writes its {"error": ...} bodies with it too.
func AppendString(dst []byte, s string) []byte {
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
		dst = appendEscape(dst, c)
		i++
	}
	return append(dst, '"')
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendParams writes a parameters object with its keys sorted, so that
// one request always encodes to the same bytes.
func appendParams(dst []byte, p map[string]any) ([]byte, error) {
	dst = append(dst, '{')
	for i, k := range slices.Sorted(maps.Keys(p)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendValue(append(AppendString(dst, k), ':'), p[k]); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendValue writes the values the decoder gives parameters (string,
// int64, float64, bool, nil, objects, arrays) by hand, so they read back
// as the same types, and any other through encoding/json.
func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case float64:
		return appendFloat64Value(dst, v), nil
	case tensor.Parameters:
		return appendParams(dst, v)
	case map[string]any:
		return appendParams(dst, v)
	case []any:
		return appendArray(dst, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, tensor.Errorf(tensor.InvalidArgument, "parameter value %v: %w", v, err)
	}
	return append(dst, b...), nil
}

// appendFloat64Value keeps a whole float64 a float on the way back by
// giving it a decimal point (the decoder reads 2 as int64, 2.0 as float64).
func appendFloat64Value(dst []byte, f float64) []byte {
	start := len(dst)
	dst = appendFloat(dst, f, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' || c == 'n' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

func appendArray(dst []byte, a []any) ([]byte, error) {
	dst = append(dst, '[')
	for i, v := range a {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendValue(dst, v); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}
