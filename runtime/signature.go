package runtime

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// IO describes one input or output of a model.
type IO struct {
	Name     string
	DataType tensor.DataType
	Dims     []int64 // -1 where the model leaves a dimension open
}

// Signature is what a model takes and gives.
type Signature struct {
	Inputs  []IO
	Outputs []IO
	// Batched is true when dimension 0 of every input and output is open, so
	// that requests can be stacked along it.
	Batched bool
}

var ortTypes = map[ort.TensorElementDataType]tensor.DataType{
	ort.TensorElementDataTypeBool:     tensor.Bool,
	ort.TensorElementDataTypeUint8:    tensor.Uint8,
	ort.TensorElementDataTypeUint16:   tensor.Uint16,
	ort.TensorElementDataTypeUint32:   tensor.Uint32,
	ort.TensorElementDataTypeUint64:   tensor.Uint64,
	ort.TensorElementDataTypeInt8:     tensor.Int8,
	ort.TensorElementDataTypeInt16:    tensor.Int16,
	ort.TensorElementDataTypeInt32:    tensor.Int32,
	ort.TensorElementDataTypeInt64:    tensor.Int64,
	ort.TensorElementDataTypeFloat16:  tensor.FP16,
	ort.TensorElementDataTypeBFloat16: tensor.BF16,
	ort.TensorElementDataTypeFloat:    tensor.FP32,
	ort.TensorElementDataTypeDouble:   tensor.FP64,
	ort.TensorElementDataTypeString:   tensor.Bytes,
}

// toORT is the reverse of ortTypes, indexed by tensor.DataType: batch
// assembly looks a type up for every input and output of every batch. It
// has a slot for every uint8, so a type added to ortTypes needs nothing
// here.
var toORT = func() (out [1 << 8]ort.TensorElementDataType) {
	for k, v := range ortTypes {
		out[v] = k
	}
	return out
}()

// ortType is ORT's element type for d; undefined for an invalid d.
func ortType(d tensor.DataType) ort.TensorElementDataType {
	return toORT[d]
}

// ReadSignature reads a model file's inputs and outputs.
func ReadSignature(path string) (Signature, error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return Signature{}, fmt.Errorf("reading signature of %s: %w", path, err)
	}
	var sig Signature
	if sig.Inputs, err = convertIO(ins, "input"); err != nil {
		return Signature{}, fmt.Errorf("%s: %w", path, err)
	}
	if sig.Outputs, err = convertIO(outs, "output"); err != nil {
		return Signature{}, fmt.Errorf("%s: %w", path, err)
	}
	sig.Batched = batchable(sig.Inputs) && batchable(sig.Outputs)
	return sig, nil
}

func convertIO(infos []ort.InputOutputInfo, what string) ([]IO, error) {
	out := make([]IO, len(infos))
	for i, info := range infos {
		if info.OrtValueType != ort.ONNXTypeTensor {
			return nil, fmt.Errorf("%s %q is a %s; only tensors can be served", what, info.Name, info.OrtValueType)
		}
		dt, ok := ortTypes[info.DataType]
		if !ok {
			return nil, fmt.Errorf("%s %q has element type %s, which the v2 protocol cannot carry", what, info.Name, info.DataType)
		}
		dims := make([]int64, len(info.Dimensions))
		for j, d := range info.Dimensions {
			if d < 0 {
				d = -1
			}
			dims[j] = d
		}
		out[i] = IO{Name: info.Name, DataType: dt, Dims: dims}
	}
	return out, nil
}

func batchable(ios []IO) bool {
	if len(ios) == 0 {
		return false
	}
	for _, io := range ios {
		if len(io.Dims) == 0 || io.Dims[0] != -1 {
			return false
		}
	}
	return true
}
