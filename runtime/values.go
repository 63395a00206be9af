package runtime

import (
	"encoding/binary"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// newValue wraps a tensor's bytes as an ORT value without copying them;
// BYTES become an ORT string tensor, which ORT copies in.
func newValue(t *tensor.Tensor) (ort.Value, error) {
	shape := ort.NewShape(t.Shape...)
	if t.DataType != tensor.Bytes {
		v, err := ort.NewCustomDataTensor(shape, t.Data, ortType(t.DataType))
		if err != nil {
			return nil, tensor.Errorf(tensor.Internal, "input %q: %w", t.Name, err)
		}
		return v, nil
	}
	v, err := ort.NewStringTensor(shape)
	if err != nil {
		return nil, tensor.Errorf(tensor.Internal, "input %q: %w", t.Name, err)
	}
	if err := v.SetContents(splitBytes(t.Data)); err != nil {
		v.Destroy()
		return nil, tensor.Errorf(tensor.Internal, "input %q: %w", t.Name, err)
	}
	return v, nil
}

// splitBytes turns length-prefixed BYTES elements (already checked) into
// strings for ORT.
func splitBytes(b []byte) []string {
	var out []string
	for len(b) >= 4 {
		n := binary.LittleEndian.Uint32(b)
		out = append(out, string(b[4:4+n]))
		b = b[4+n:]
	}
	return out
}

// allocOutputs makes an output value for every output whose shape is
// known before the run (dimension 0 is the batch): a kept one for a small
// output, copied out after the run, or one over a fresh Go buffer
// that goes to the callers as is (results[i].Data set). The rest are left
// nil for ORT to allocate.
func (inst *instance) allocOutputs(sig Signature, batch int64, outs []ort.Value) ([]tensor.Tensor, error) {
	results := make([]tensor.Tensor, len(sig.Outputs))
	for i, io := range sig.Outputs {
		results[i] = tensor.Tensor{Name: io.Name, DataType: io.DataType}
		shape, ok := knownShape(io.Dims, batch)
		if !ok || io.DataType == tensor.Bytes || tensor.Elements(shape) == 0 {
			continue
		}
		results[i].Shape = shape
		n := tensor.Elements(shape) * int64(io.DataType.Size())
		if n <= smallOutputBytes {
			v, err := inst.keptOut[i].over(shape, io.DataType, int(n), "output", io.Name)
			if err != nil {
				return nil, err
			}
			outs[i] = v
			continue
		}
		data := make([]byte, n)
		v, err := ort.NewCustomDataTensor(ort.NewShape(shape...), data, ortType(io.DataType))
		if err != nil {
			return nil, tensor.Errorf(tensor.Internal, "output %q: %w", io.Name, err)
		}
		inst.fresh = append(inst.fresh, v)
		outs[i], results[i].Data = v, data
	}
	return results, nil
}

func knownShape(dims []int64, batch int64) ([]int64, bool) {
	shape := make([]int64, len(dims))
	for i, d := range dims {
		if d < 0 && i == 0 && batch > 0 {
			d = batch
		}
		if d < 0 {
			return nil, false
		}
		shape[i] = d
	}
	return shape, true
}

// fromValue converts an output ORT allocated into a tensor. Numeric data
// is already a Go slice that outlives the ORT value, so it is not copied.
func fromValue(v ort.Value, io IO) (tensor.Tensor, error) {
	out := tensor.Tensor{Name: io.Name, DataType: io.DataType, Shape: []int64(v.GetShape())}
	var data []byte
	switch t := v.(type) {
	case *ort.StringTensor:
		s, err := t.GetContents()
		if err != nil {
			return out, tensor.Errorf(tensor.Internal, "output %q: %w", io.Name, err)
		}
		for _, e := range s {
			data = tensor.AppendBytesElement(data, []byte(e))
		}
	case *ort.Tensor[bool]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[uint8]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[uint16]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[uint32]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[uint64]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[int8]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[int16]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[int32]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[int64]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[float32]:
		data = rawBytes(t.GetData())
	case *ort.Tensor[float64]:
		data = rawBytes(t.GetData())
	default:
		// onnxruntime_go copies ORT-allocated FP16 and BF16 data one byte
		// per element, so such an output would come back truncated; refuse
		// instead.
		return out, tensor.Errorf(tensor.Internal, "output %q: %s with a shape unknown before the run is not supported; give it a fixed shape in the model", io.Name, io.DataType)
	}
	out.Data = data
	if data == nil {
		out.Data = []byte{}
	}
	return out, nil
}

func rawBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(zero)))
}
