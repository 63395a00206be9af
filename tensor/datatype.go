package tensor

import "fmt"

// DataType is an element type named as in the KServe v2 protocol.
type DataType uint8

// The data types of the v2 protocol that ONNX Runtime can take or give.
// New types go at the end, so that a type's number never changes.
const (
	Invalid DataType = iota
	Bool
	Uint8
	Uint16
	Uint32
	Uint64
	Int8
	Int16
	Int32
	Int64
	FP16
	FP32
	FP64
	Bytes
	// BF16 is bfloat16: the top half of an IEEE 754 binary32 (sign, 8
	// exponent bits, 7 mantissa bits), as Triton's BF16.
	BF16

	lastType = BF16
)

var typeNames = [...]string{
	Invalid: "INVALID",
	Bool:    "BOOL",
	Uint8:   "UINT8",
	Uint16:  "UINT16",
	Uint32:  "UINT32",
	Uint64:  "UINT64",
	Int8:    "INT8",
	Int16:   "INT16",
	Int32:   "INT32",
	Int64:   "INT64",
	FP16:    "FP16",
	FP32:    "FP32",
	FP64:    "FP64",
	Bytes:   "BYTES",
	BF16:    "BF16",
}

var typeSizes = [...]int{
	Bool: 1, Uint8: 1, Uint16: 2, Uint32: 4, Uint64: 8,
	Int8: 1, Int16: 2, Int32: 4, Int64: 8,
	FP16: 2, FP32: 4, FP64: 8, Bytes: 0, BF16: 2,
}

// String returns the v2 protocol name ("FP32").
func (d DataType) String() string {
	if int(d) < len(typeNames) {
		return typeNames[d]
	}
	return fmt.Sprintf("DataType(%d)", uint8(d))
}

// Size is the width of one element in bytes; 0 for BYTES, whose elements vary.
func (d DataType) Size() int {
	if int(d) < len(typeSizes) {
		return typeSizes[d]
	}
	return 0
}

// Valid reports whether d is one of the named types.
func (d DataType) Valid() bool { return d > Invalid && d <= lastType }

// ParseDataType maps a v2 protocol name to its DataType.
func ParseDataType(name string) (DataType, error) {
	for i := Bool; i <= lastType; i++ {
		if typeNames[i] == name {
			return i, nil
		}
	}
	return Invalid, Errorf(InvalidArgument, "datatype %q is not one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64, BYTES", name)
}

// ParseDataTypeBytes is ParseDataType for a name still held in a request
// buffer; it does not allocate on success.
func ParseDataTypeBytes(name []byte) (DataType, error) {
	for i := Bool; i <= lastType; i++ {
		if typeNames[i] == string(name) {
			return i, nil
		}
	}
	return ParseDataType(string(name))
}
