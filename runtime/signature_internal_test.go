package runtime

import (
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// Every data type maps to ORT's element type and back; BF16 is ONNX's
// BFLOAT16 (16).
func TestEveryDataTypeHasAnORTType(t *testing.T) {
	for d := tensor.Bool; d.Valid(); d++ {
		et := ortType(d)
		if et == ort.TensorElementDataTypeUndefined || ortTypes[et] != d {
			t.Errorf("%s: ORT type %v, which maps back to %v", d, et, ortTypes[et])
		}
	}
	if et := ortType(tensor.BF16); et != ort.TensorElementDataTypeBFloat16 || ort.TensorElementDataTypeBFloat16 != 16 {
		t.Errorf("BF16 is ORT type %v (%d), want BFLOAT16 (16)", et, et)
	}
	for _, d := range []tensor.DataType{tensor.Invalid, tensor.BF16 + 1, 255} {
		if et := ortType(d); et != ort.TensorElementDataTypeUndefined {
			t.Errorf("invalid %v is ORT type %v, want undefined", d, et)
		}
	}
}
