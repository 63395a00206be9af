package onnx

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/sluice-serving/sluice/pipeline/model"
	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
)

// addLayers appends MatMul+Add per layer, Relu after all but the last, and
// returns the name of the logit value.
func addLayers(g *pb.GraphProto, m *model.Model) string {
	prev := InputName
	for k, l := range m.Layers {
		if k == 0 {
			l = foldNormalisation(l, m.Mean, m.Std)
		}
		w, b := fmt.Sprintf("layer%d.W", k), fmt.Sprintf("layer%d.B", k)
		g.Initializer = append(g.Initializer,
			floatTensor(w, []int64{int64(l.In), int64(l.Out)}, l.W),
			floatTensor(b, []int64{int64(l.Out)}, l.B))
		mm, z := fmt.Sprintf("layer%d.matmul", k), fmt.Sprintf("layer%d.z", k)
		g.Node = append(g.Node, node("MatMul", prev, w, mm), node("Add", mm, b, z))
		prev = z
		if k < len(m.Layers)-1 {
			h := fmt.Sprintf("layer%d.relu", k)
			g.Node = append(g.Node, node("Relu", z, "", h))
			prev = h
		}
	}
	return prev
}

// addHead turns the logit into the probability and the thresholded label.
func addHead(g *pb.GraphProto, logit string, threshold float64) {
	const passed = "passed"
	g.Initializer = append(g.Initializer, floatTensor("threshold", nil, []float64{threshold}))
	cast := node("Cast", passed, "", LabelName)
	cast.Attribute = []*pb.AttributeProto{{
		Name: proto.String("to"),
		Type: pb.AttributeProto_INT.Enum(),
		I:    proto.Int64(int64(pb.TensorProto_INT64)),
	}}
	g.Node = append(g.Node,
		node("Sigmoid", logit, "", ProbabilityName),
		node("Greater", ProbabilityName, "threshold", passed),
		cast)
}

// foldNormalisation returns l acting on raw features: with z = (x-Mean)/Std,
// z·W + B = x·W' + B' where W'[i][j] = W[i][j]/Std[i] and
// B'[j] = B[j] - Σi Mean[i]/Std[i]·W[i][j]. Folding keeps the graph to the
// ops every runtime fuses, and is done in float64 before the one rounding to
// float32.
func foldNormalisation(l model.Layer, mean, std []float64) model.Layer {
	w := make([]float64, len(l.W))
	b := append([]float64(nil), l.B...)
	for i := range l.In {
		for j := range l.Out {
			w[i*l.Out+j] = l.W[i*l.Out+j] / std[i]
			b[j] -= mean[i] / std[i] * l.W[i*l.Out+j]
		}
	}
	return model.Layer{In: l.In, Out: l.Out, W: w, B: b}
}

// node is an operator call with one or two inputs (b empty for one).
func node(op, a, b, out string) *pb.NodeProto {
	in := []string{a}
	if b != "" {
		in = append(in, b)
	}
	return &pb.NodeProto{OpType: proto.String(op), Input: in, Output: []string{out}}
}
