package v2

import (
	"encoding/binary"
	"math"

	"github.com/sluice-serving/sluice/tensor"
)

// dataDecoder appends the elements of a JSON "data" array, flat or nested
// row-major, to dst as little-endian values of one data type. The scanner
// is passed to its methods, not kept in it: escape analysis does not tell
// fields apart, and the name its errors box would send the scanner to the
// heap too.
type dataDecoder struct {
	dt   tensor.DataType
	td   *tensorDecoder
	name string // the tensor's, for messages
	dst  []byte
	n    int // elements read
}

// decodeData reads t's "data" value into the decoder's data arena. The
// element count t's shape promises sizes the buffer, but only when the
// header could hold that many (a JSON element takes at least two bytes),
// and is checked later, by the registry or checkOutput.
func (td *tensorDecoder) decodeData(s *scanner, t *tensor.Tensor) ([]byte, error) {
	d := dataDecoder{dt: t.DataType, td: td, name: t.Name}
	size, want := int64(t.DataType.Size()), tensor.Elements(t.Shape)
	hint := 0
	if size > 0 && want > 0 && want <= int64(len(s.b))/size {
		hint = int(want * size)
	}
	d.dst = td.data.start(hint)
	if s.peek() != '[' {
		return nil, d.errorf("\"data\" must be an array")
	}
	err := d.array(s, 0)
	data := td.data.done(d.dst)
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

func (d *dataDecoder) errorf(format string, args ...any) error {
	return d.td.errorf(d.name, format, args...)
}

func (d *dataDecoder) array(s *scanner, depth int) error {
	if s.depth+depth >= s.maxDepth {
		return d.errorf("%w", s.deep())
	}
	s.i++ // the '[' that peek saw
	if s.consume(']') {
		return nil
	}
	for {
		var err error
		if s.peek() == '[' {
			err = d.array(s, depth+1)
		} else {
			err = d.element(s)
			d.n++
		}
		if err != nil {
			return err
		}
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return nil
		}
		return d.errorf("malformed JSON at byte %d in \"data\": expected ',' or ']'", s.i)
	}
}

func (d *dataDecoder) element(s *scanner) error {
	switch d.dt {
	case tensor.Bool:
		return d.boolean(s)
	case tensor.Bytes:
		b, err := s.str()
		if err != nil {
			return d.errorf("element %d: %v", d.n, err)
		}
		d.dst = tensor.AppendBytesElement(d.dst, b)
		return nil
	}
	if d.dt == tensor.FP32 || d.dt == tensor.FP64 || d.dt == tensor.BF16 {
		if f, end, ok := fastFloatAt(s.b, s.i); ok && d.fastFits(f) {
			s.i = end
			d.appendFloat(f)
			return nil
		}
	}
	if d.td.nullNaN && isFloat(d.dt) && s.peek() == 'n' {
		return d.null(s)
	}
	num, err := s.number()
	if err != nil {
		return d.errorf("element %d: expected a %s number: %v", d.n, d.dt, err)
	}
	return d.number(num)
}

// null reads a FP element the encoder wrote for NaN or an infinity, which
// JSON cannot hold: it reads back as NaN.
func (d *dataDecoder) null(s *scanner) error {
	if w, err := s.literal(); err != nil || w != "null" {
		return d.errorf("element %d: expected a %s number or null", d.n, d.dt)
	}
	if d.dt == tensor.FP16 {
		d.dst = binary.LittleEndian.AppendUint16(d.dst, tensor.HalfFromFloat32(float32(math.NaN())))
		return nil
	}
	d.appendFloat(math.NaN())
	return nil
}

func isFloat(dt tensor.DataType) bool {
	return dt == tensor.FP16 || dt == tensor.BF16 || dt == tensor.FP32 || dt == tensor.FP64
}

// bf16Overflow is halfway from the largest bfloat16, (2 - 2^-7) * 2^127,
// to 2^128: a number this large or larger rounds to infinity.
const bf16Overflow = 0x1.ffp127

// fastFits reports whether f, from the fast path, stores as the general
// path (number) would store the decimal it was read from: FP32 must round
// once narrowing f (float32Exact), BF16 must be in range.
func (d *dataDecoder) fastFits(f float64) bool {
	switch d.dt {
	case tensor.FP64:
		return true
	case tensor.BF16:
		return math.Abs(f) < bf16Overflow
	}
	return float32Exact(f)
}

// appendFloat stores f as a FP32, FP64 or BF16 element.
func (d *dataDecoder) appendFloat(f float64) {
	switch d.dt {
	case tensor.FP32:
		d.dst = binary.LittleEndian.AppendUint32(d.dst, math.Float32bits(float32(f)))
	case tensor.BF16:
		d.dst = binary.LittleEndian.AppendUint16(d.dst, tensor.BFloat16FromFloat64(f))
	default:
		d.dst = binary.LittleEndian.AppendUint64(d.dst, math.Float64bits(f))
	}
}

func (d *dataDecoder) boolean(s *scanner) error {
	w, err := s.literal()
	switch {
	case err != nil || w == "null":
		return d.errorf("element %d: expected true or false for BOOL", d.n)
	case w == "true":
		d.dst = append(d.dst, 1)
	default:
		d.dst = append(d.dst, 0)
	}
	return nil
}

func (d *dataDecoder) number(num []byte) error {
	le := binary.LittleEndian
	switch d.dt {
	case tensor.FP32:
		f, err := parseFloat32(num)
		if err != nil {
			return d.errorf("element %d: %s is out of FP32 range", d.n, num)
		}
		d.dst = le.AppendUint32(d.dst, math.Float32bits(f))
	case tensor.FP64:
		f, err := parseFloat64(num)
		if err != nil {
			return d.errorf("element %d: %s is out of FP64 range", d.n, num)
		}
		d.dst = le.AppendUint64(d.dst, math.Float64bits(f))
	case tensor.FP16:
		f, err := parseFloat32(num)
		if err != nil || math.Abs(float64(f)) > 65504 {
			return d.errorf("element %d: %s is out of FP16 range", d.n, num)
		}
		d.dst = le.AppendUint16(d.dst, tensor.HalfFromFloat32(f))
	case tensor.BF16:
		// The nearest float64, then the nearest bfloat16: only a decimal
		// of 17 or more digits within half a float64 step of a bfloat16
		// tie can round the wrong way, and none the encoder writes.
		f, err := parseFloat64(num)
		if err != nil || math.Abs(f) >= bf16Overflow {
			return d.errorf("element %d: %s is out of BF16 range", d.n, num)
		}
		d.dst = le.AppendUint16(d.dst, tensor.BFloat16FromFloat64(f))
	case tensor.Uint64:
		u, ok := parseUint(num)
		if !ok {
			return d.errorf("element %d: %s is not a UINT64", d.n, num)
		}
		d.dst = le.AppendUint64(d.dst, u)
	default:
		return d.integer(num)
	}
	return nil
}

// intRange is the span of each signed or narrower integer type.
var intRange = [...][2]int64{
	tensor.Int8: {math.MinInt8, math.MaxInt8}, tensor.Int16: {math.MinInt16, math.MaxInt16},
	tensor.Int32: {math.MinInt32, math.MaxInt32}, tensor.Int64: {math.MinInt64, math.MaxInt64},
	tensor.Uint8: {0, math.MaxUint8}, tensor.Uint16: {0, math.MaxUint16}, tensor.Uint32: {0, math.MaxUint32},
}

func (d *dataDecoder) integer(num []byte) error {
	v, ok := parseInt(num)
	r := intRange[d.dt]
	if !ok || v < r[0] || v > r[1] {
		return d.errorf("element %d: %s is not a %s (%d to %d)", d.n, num, d.dt, r[0], r[1])
	}
	le := binary.LittleEndian
	switch d.dt.Size() {
	case 1:
		d.dst = append(d.dst, byte(v))
	case 2:
		d.dst = le.AppendUint16(d.dst, uint16(v))
	case 4:
		d.dst = le.AppendUint32(d.dst, uint32(v))
	default:
		d.dst = le.AppendUint64(d.dst, uint64(v))
	}
	return nil
}
