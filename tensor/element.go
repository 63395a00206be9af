package tensor

import (
	"encoding/binary"
	"math"
)

// Element reads the numeric element at the start of b, little-endian, as a
// float64: what comparing outputs and profiling live calls both need.
// BYTES (and any type that is not numeric) reads as 0. b must hold at least
// dt.Size() bytes. It neither allocates nor fails, so the request path may
// call it for every element it samples.
func Element(dt DataType, b []byte) float64 {
	le := binary.LittleEndian
	switch dt {
	case Bool, Uint8:
		return float64(b[0])
	case Int8:
		return float64(int8(b[0]))
	case Uint16:
		return float64(le.Uint16(b))
	case Int16:
		return float64(int16(le.Uint16(b)))
	case Uint32:
		return float64(le.Uint32(b))
	case Int32:
		return float64(int32(le.Uint32(b)))
	case Uint64:
		return float64(le.Uint64(b))
	case Int64:
		return float64(int64(le.Uint64(b)))
	case FP16:
		return float64(Float32FromHalf(le.Uint16(b)))
	case BF16:
		return float64(Float32FromBFloat16(le.Uint16(b)))
	case FP32:
		return float64(math.Float32frombits(le.Uint32(b)))
	case FP64:
		return math.Float64frombits(le.Uint64(b))
	}
	return 0
}
