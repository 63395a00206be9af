package ortest

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
)

// TensorIO is one input or output of a model Model writes: a tensor of
// ONNX element type Elem and shape [batch, Width], batch left open.
type TensorIO struct {
	Name  string
	Elem  pb.TensorProto_DataType
	Width int64
}

// Node is one operator of such a model; To is Cast's target type.
type Node struct {
	Op      string
	In, Out []string
	To      pb.TensorProto_DataType
}

// Model writes a small ONNX model (IR 8, opset 13, what the committed
// fixtures use) without Python, for the element types no committed
// fixture has: scripts/gen_fixtures.py needs python3-onnx, Go tests must
// not. The bytes are the same on every call.
func Model(tb testing.TB, name string, inputs, outputs []TensorIO, nodes []Node) []byte {
	tb.Helper()
	g := &pb.GraphProto{Name: proto.String(name)}
	for _, io := range inputs {
		g.Input = append(g.Input, valueInfo(io))
	}
	for _, io := range outputs {
		g.Output = append(g.Output, valueInfo(io))
	}
	for _, n := range nodes {
		np := &pb.NodeProto{OpType: proto.String(n.Op), Input: n.In, Output: n.Out}
		if n.Op == "Cast" {
			np.Attribute = []*pb.AttributeProto{{Name: proto.String("to"), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(int64(n.To))}}
		}
		g.Node = append(g.Node, np)
	}
	return encodeModel(tb, g)
}

// encodeModel wraps g as an IR 8, opset 13 model and encodes it the same
// way every time.
func encodeModel(tb testing.TB, g *pb.GraphProto) []byte {
	tb.Helper()
	m := &pb.ModelProto{
		IrVersion:    proto.Int64(8),
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		ProducerName: proto.String("sluice-ortest"),
		Graph:        g,
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func valueInfo(io TensorIO) *pb.ValueInfoProto {
	dims := []*pb.TensorShapeProto_Dimension{
		{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
		{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: io.Width}},
	}
	tt := &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(io.Elem)), Shape: &pb.TensorShapeProto{Dim: dims}}
	return &pb.ValueInfoProto{Name: proto.String(io.Name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}}
}

// BF16Model is the BF16 fixture: in_bf16 BF16 [batch,3] comes back as
// out_bf16 (Identity), as in the alltypes fixture, and as out_fp32 FP32
// [batch,3] (Cast); in_fp32 FP32 [batch,3] goes out as out_cast BF16
// [batch,3] (Cast), ONNX Runtime's rounding.
func BF16Model(tb testing.TB) []byte {
	tb.Helper()
	bf16, fp32 := pb.TensorProto_BFLOAT16, pb.TensorProto_FLOAT
	return Model(tb, "bf16",
		[]TensorIO{{"in_bf16", bf16, 3}, {"in_fp32", fp32, 3}},
		[]TensorIO{{"out_bf16", bf16, 3}, {"out_fp32", fp32, 3}, {"out_cast", bf16, 3}},
		[]Node{
			{Op: "Identity", In: []string{"in_bf16"}, Out: []string{"out_bf16"}},
			{Op: "Cast", In: []string{"in_bf16"}, Out: []string{"out_fp32"}, To: fp32},
			{Op: "Cast", In: []string{"in_fp32"}, Out: []string{"out_cast"}, To: bf16},
		})
}
