package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// Metadata is what RandomInputs reads of a server: *client.Client and
// *client.GRPC both read it.
type Metadata interface {
	ModelMetadata(ctx context.Context, model, version string) (*client.ModelMeta, error)
}

// RandomInputs makes one call's inputs from the model's metadata: open
// dimensions become batch (dimension 0) or the given shape's, values are
// random in [0, 1) for floats and small for integers, seeded.
func RandomInputs(ctx context.Context, c Metadata, model, version string, batch int64, shapes map[string][]int64) ([]tensor.Tensor, error) {
	meta, err := c.ModelMetadata(ctx, model, version)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var out []tensor.Tensor
	for _, in := range meta.Inputs {
		dt, err := tensor.ParseDataType(in.DataType)
		if err != nil {
			return nil, err
		}
		shape := shapes[in.Name]
		if shape == nil {
			shape = make([]int64, len(in.Shape))
			for i, d := range in.Shape {
				switch {
				case d >= 0:
					shape[i] = d
				case i == 0:
					shape[i] = batch
				default:
					return nil, fmt.Errorf("input %q: dimension %d is open; give its shape", in.Name, i)
				}
			}
		}
		out = append(out, tensor.Tensor{Name: in.Name, DataType: dt, Shape: shape, Data: randomData(rng, dt, tensor.Elements(shape))})
	}
	return out, nil
}

func randomData(rng *rand.Rand, dt tensor.DataType, n int64) []byte {
	le := binary.LittleEndian
	var b []byte
	for range n {
		switch dt {
		case tensor.FP32:
			b = le.AppendUint32(b, math.Float32bits(rng.Float32()))
		case tensor.FP64:
			b = le.AppendUint64(b, math.Float64bits(rng.Float64()))
		case tensor.FP16:
			b = le.AppendUint16(b, tensor.HalfFromFloat32(rng.Float32()))
		case tensor.BF16:
			b = le.AppendUint16(b, tensor.BFloat16FromFloat32(rng.Float32()))
		case tensor.Bytes:
			b = tensor.AppendBytesElement(b, fmt.Appendf(nil, "s%d", rng.IntN(1000)))
		case tensor.Bool:
			b = append(b, byte(rng.IntN(2)))
		default:
			e := make([]byte, dt.Size())
			e[0] = byte(rng.IntN(100))
			b = append(b, e...)
		}
	}
	return b
}

// FileInputs reads a call's inputs from a v2 request body in JSON.
func FileInputs(path string) ([]tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return client.ParseInputs(b)
}
