package tensor

import (
	"encoding/binary"
	"strconv"
)

// Tensor is a named, typed, shaped block of little-endian element bytes.
type Tensor struct {
	Name     string
	DataType DataType
	Shape    []int64
	Data     []byte
}

// Elements is the product of the shape's dimensions (1 for a scalar).
func Elements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// CheckData verifies that Data holds exactly the elements Shape promises, so
// that nothing downstream reads past a buffer or leaves bytes unread.
func (t *Tensor) CheckData() error {
	n, ok := checkedElements(t.Shape)
	if !ok {
		return Errorf(InvalidArgument, "input %q: shape %s has more elements than a request can carry", t.Name, FormatShape(t.Shape))
	}
	if t.DataType == Bytes {
		got, err := CountBytesElements(t.Data)
		if err != nil {
			return Errorf(InvalidArgument, "input %q: %v", t.Name, err)
		}
		if int64(got) != n {
			return Errorf(InvalidArgument, "input %q: shape %s needs %d BYTES elements, got %d", t.Name, FormatShape(t.Shape), n, got)
		}
		return nil
	}
	want := n * int64(t.DataType.Size())
	if int64(len(t.Data)) != want {
		return Errorf(InvalidArgument, "input %q: shape %s of %s needs %d bytes (%d elements), got %d bytes", t.Name, FormatShape(t.Shape), t.DataType, want, n, len(t.Data))
	}
	return nil
}

// checkedElements is Elements refusing negative sizes and any count past
// 2^48, so a hostile shape cannot overflow the byte arithmetic.
func checkedElements(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && n > (1<<48)/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// CountBytesElements counts the length-prefixed elements of a BYTES tensor.
func CountBytesElements(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if len(b) < 4 {
			return n, Errorf(InvalidArgument, "BYTES element %d: %d bytes left, need a 4-byte length", n, len(b))
		}
		l := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return n, Errorf(InvalidArgument, "BYTES element %d: length %d runs past the %d bytes left", n, l, len(b))
		}
		b = b[l:]
		n++
	}
	return n, nil
}

// AppendBytesElement appends one length-prefixed BYTES element.
func AppendBytesElement(dst, elem []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(elem)))
	return append(dst, elem...)
}

// FormatShape writes a shape as "[1,3,48,192]".
func FormatShape(shape []int64) string {
	b := make([]byte, 0, 2+len(shape)*4)
	b = append(b, '[')
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return string(append(b, ']'))
}

// SameShape reports whether two shapes are equal dimension by dimension.
func SameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
