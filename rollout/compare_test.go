package rollout

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/sluice-serving/sluice/tensor"
)

// encode writes values in dt's little-endian layout.
func encode(dt tensor.DataType, vals ...float64) []byte {
	size := dt.Size()
	b := make([]byte, size*len(vals))
	le := binary.LittleEndian
	for i, v := range vals {
		p := b[i*size:]
		switch dt {
		case tensor.Bool, tensor.Uint8, tensor.Int8:
			p[0] = byte(int8(v))
		case tensor.Uint16, tensor.Int16:
			le.PutUint16(p, uint16(int16(v)))
		case tensor.Uint32, tensor.Int32:
			le.PutUint32(p, uint32(int32(v)))
		case tensor.Uint64, tensor.Int64:
			le.PutUint64(p, uint64(int64(v)))
		case tensor.FP16:
			le.PutUint16(p, tensor.HalfFromFloat32(float32(v)))
		case tensor.FP32:
			le.PutUint32(p, math.Float32bits(float32(v)))
		case tensor.FP64:
			le.PutUint64(p, math.Float64bits(v))
		}
	}
	return b
}

func out(dt tensor.DataType, shape []int64, vals ...float64) []tensor.Tensor {
	return []tensor.Tensor{{Name: "y", DataType: dt, Shape: shape, Data: encode(dt, vals...)}}
}

func TestCompareOutputsEveryNumericType(t *testing.T) {
	floats := []tensor.DataType{tensor.FP16, tensor.FP32, tensor.FP64}
	ints := []tensor.DataType{tensor.Bool, tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64, tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64}
	for _, dt := range floats {
		t.Run(dt.String(), func(t *testing.T) {
			p := out(dt, []int64{2, 2}, 0.25, 0.75, 0.5, 0.25)
			if agree, diff := compareOutputs(p, out(dt, []int64{2, 2}, 0.25, 0.5, 0.5, 0.25)); !agree || diff != 0.25 {
				t.Errorf("same classes: agree %v diff %v, want true 0.25", agree, diff)
			}
			if agree, _ := compareOutputs(p, out(dt, []int64{2, 2}, 0.75, 0.25, 0.5, 0.25)); agree {
				t.Error("a flipped class agreed")
			}
		})
	}
	for _, dt := range ints {
		t.Run(dt.String(), func(t *testing.T) {
			p := out(dt, []int64{3}, 1, 0, 1)
			if agree, diff := compareOutputs(p, out(dt, []int64{3}, 1, 0, 1)); !agree || diff != 0 {
				t.Errorf("equal labels: agree %v diff %v", agree, diff)
			}
			if agree, diff := compareOutputs(p, out(dt, []int64{3}, 1, 1, 1)); agree || diff != 1 {
				t.Errorf("a different label: agree %v diff %v, want false 1", agree, diff)
			}
		})
	}
}

func TestCompareOutputsEdges(t *testing.T) {
	tests := []struct {
		name     string
		p, c     []tensor.Tensor
		agree    bool
		wantDiff float64
	}{
		{"rank 0 scores", out(tensor.FP32, []int64{}, 0.5), out(tensor.FP32, []int64{}, 0.75), true, 0.25},
		{"one score per row", out(tensor.FP64, []int64{2, 1}, 0.5, 0.5), out(tensor.FP64, []int64{2, 1}, 0.5, 0.625), true, 0.125},
		{"shape differs", out(tensor.FP32, []int64{2}, 1, 2), out(tensor.FP32, []int64{1, 2}, 1, 2), false, math.Inf(1)},
		{"type differs", out(tensor.FP32, []int64{1}, 1), out(tensor.FP64, []int64{1}, 1), false, math.Inf(1)},
		{"output count differs", out(tensor.FP32, []int64{1}, 1), nil, false, math.Inf(1)},
		{"bytes differ", []tensor.Tensor{{DataType: tensor.Bytes, Shape: []int64{1}, Data: []byte{1, 0, 0, 0, 'a'}}},
			[]tensor.Tensor{{DataType: tensor.Bytes, Shape: []int64{1}, Data: []byte{1, 0, 0, 0, 'b'}}}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agree, diff := compareOutputs(tt.p, tt.c)
			if agree != tt.agree || diff != tt.wantDiff {
				t.Errorf("agree %v diff %v, want %v %v", agree, diff, tt.agree, tt.wantDiff)
			}
		})
	}
}
