package main

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
)

// widths are the layer widths from input to output: x is [batch, widths[0]]
// and y is [batch, widths[len-1]]. The 1.3 M weights (5.3 MB) are too many
// for a core's L2, so a one-row run spends its time reading them (each
// weight feeds one multiply-add) while a 16-row run reads them once for 16
// rows and is bound by arithmetic instead: batch 16 gives several times
// batch 1's rows per second on one thread. A narrow input keeps requests
// small, so that serving cost stays with the model rather than with decoding.
var widths = []int64{256, 1024, 1024, 16}

// seed fixes the weights; the same seed gives the same bytes.
const seed = 3

// What every fixture declares; ONNX Runtime 1.30 loads IR 8, opset 13.
const (
	irVersion = 8
	opset     = 13
	producer  = "sluice-genwidemlp"
)

// model is the serialized widemlp ModelProto: one Gemm per layer, Relu
// between layers, weights drawn from seed.
func model() ([]byte, error) {
	g := &pb.GraphProto{
		Name:   proto.String("widemlp"),
		Input:  []*pb.ValueInfoProto{fp32Row("x", widths[0])},
		Output: []*pb.ValueInfoProto{fp32Row("y", widths[len(widths)-1])},
	}
	rng := splitmix(seed)
	prev := "x"
	for k := range len(widths) - 1 {
		prev = addLayer(g, &rng, k, prev)
	}
	m := &pb.ModelProto{
		IrVersion:    proto.Int64(irVersion),
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		ProducerName: proto.String(producer),
		Graph:        g,
	}
	// Deterministic fixes field order; nothing time- or host-dependent is
	// written, so every run gives the same bytes.
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// addLayer appends layer k, which reads prev, and returns the name of its
// output: Gemm(prev, W, B), then Relu unless it is the last layer, whose
// Gemm writes y.
func addLayer(g *pb.GraphProto, rng *splitmix, k int, prev string) string {
	in, out := widths[k], widths[k+1]
	w, b := fmt.Sprintf("fc%d.W", k+1), fmt.Sprintf("fc%d.B", k+1)
	// He-uniform weights keep the activations' scale through the Relus.
	g.Initializer = append(g.Initializer,
		floatTensor(w, []int64{in, out}, rng.uniform(in*out, math.Sqrt(6/float64(in)))),
		floatTensor(b, []int64{out}, rng.uniform(out, 0.1)))
	last := k == len(widths)-2
	z := fmt.Sprintf("fc%d.z", k+1)
	if last {
		z = "y"
	}
	g.Node = append(g.Node, node("Gemm", z, prev, w, b))
	if last {
		return z
	}
	h := fmt.Sprintf("fc%d.relu", k+1)
	g.Node = append(g.Node, node("Relu", h, z))
	return h
}

func node(op, out string, in ...string) *pb.NodeProto {
	return &pb.NodeProto{OpType: proto.String(op), Name: proto.String(out), Input: in, Output: []string{out}}
}

// fp32Row is an FP32 [batch, width] graph input or output.
func fp32Row(name string, width int64) *pb.ValueInfoProto {
	dims := []*pb.TensorShapeProto_Dimension{
		{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
		{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: width}},
	}
	tt := &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(pb.TensorProto_FLOAT)), Shape: &pb.TensorShapeProto{Dim: dims}}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}}
}

// floatTensor is an FP32 initializer in raw_data, which ONNX requires to be
// little-endian whatever the host's byte order.
func floatTensor(name string, dims []int64, vals []float32) *pb.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &pb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), RawData: raw}
}

// splitmix is SplitMix64, written out here rather than taken from
// math/rand so that the committed bytes never depend on the Go release.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// uniform draws n values in [-limit, limit). Each is a 24-bit multiple of
// 2^-23, exact in float32, times limit: one rounding, and no multiply-add
// a compiler could fuse differently on another architecture.
func (s *splitmix) uniform(n int64, limit float64) []float32 {
	vals := make([]float32, n)
	for i := range vals {
		u := float64(int64(s.next()>>40)-1<<23) / (1 << 23)
		vals[i] = float32(u * limit)
	}
	return vals
}
