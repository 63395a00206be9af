package ortest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
)

// The model BigMLP writes: x FP32 [batch, BigMLPWidth] through
// BigMLPLayers MatMul+Add+Relu layers of BigMLPWidth×BigMLPWidth, then a
// MatMul+Add to y FP32 [batch, BigMLPOut].
const (
	BigMLPWidth  = 2048
	BigMLPLayers = 7
	BigMLPOut    = 16
	// BigMLPBytes is the size of its weights and biases: 117.5 MB
	// (112 MiB), a model too big for N copies of it to go unnoticed.
	BigMLPBytes = 4 * (BigMLPLayers*(BigMLPWidth*BigMLPWidth+BigMLPWidth) + BigMLPWidth*BigMLPOut + BigMLPOut)
)

// BigMLP writes the big MLP into dir as model.onnx and returns its path,
// for tests of what N instances of a big model cost. It is made at test
// time, never committed; its weights are the same on every call.
func BigMLP(tb testing.TB, dir string) string {
	tb.Helper()
	g := &pb.GraphProto{
		Name:   proto.String("bigmlp"),
		Input:  []*pb.ValueInfoProto{valueInfo(TensorIO{"x", pb.TensorProto_FLOAT, BigMLPWidth})},
		Output: []*pb.ValueInfoProto{valueInfo(TensorIO{"y", pb.TensorProto_FLOAT, BigMLPOut})},
	}
	rng := uint64(0x9e3779b97f4a7c15)
	in := "x"
	for l := range BigMLPLayers + 1 {
		in = bigMLPLayer(g, l, in, &rng)
	}
	b := encodeModel(tb, g)
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// bigMLPLayer adds layer l, which reads in, and returns its output's name:
// y for the last layer, which has no Relu.
func bigMLPLayer(g *pb.GraphProto, l int, in string, rng *uint64) string {
	rows, cols, out := int64(BigMLPWidth), int64(BigMLPWidth), fmt.Sprintf("h%d", l)
	last := l == BigMLPLayers
	if last {
		cols = BigMLPOut
	}
	w, b := fmt.Sprintf("w%d", l), fmt.Sprintf("b%d", l)
	scale := float32(math.Sqrt(6 / float64(rows))) // He uniform: activations keep their size
	g.Initializer = append(g.Initializer, floats(w, []int64{rows, cols}, scale, rng), floats(b, []int64{cols}, 0.1, rng))
	sum := out + "_add"
	if last {
		sum = "y"
	}
	g.Node = append(g.Node,
		&pb.NodeProto{OpType: proto.String("MatMul"), Input: []string{in, w}, Output: []string{out + "_mm"}},
		&pb.NodeProto{OpType: proto.String("Add"), Input: []string{out + "_mm", b}, Output: []string{sum}})
	if last {
		return sum
	}
	g.Node = append(g.Node, &pb.NodeProto{OpType: proto.String("Relu"), Input: []string{sum}, Output: []string{out}})
	return out
}

// floats is an FP32 initializer of the given dims, uniform in
// [-scale, scale) from the xorshift generator at *rng.
func floats(name string, dims []int64, scale float32, rng *uint64) *pb.TensorProto {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	raw := make([]byte, 4*n)
	for i := range n {
		*rng ^= *rng << 13
		*rng ^= *rng >> 7
		*rng ^= *rng << 17
		u := float32(*rng>>40) / (1 << 24) // [0, 1)
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits((2*u-1)*scale))
	}
	return &pb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), RawData: raw}
}
