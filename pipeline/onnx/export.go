package onnx

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/sluice-serving/sluice/pipeline/model"
	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
)

// What every exported file declares; ONNX Runtime 1.30 loads IR 8, opset 13.
const (
	IRVersion = 8
	Opset     = 13
	Producer  = "sluice-pipeline"
)

// The graph's value names: the serving signature, fixed for every model.
const (
	InputName       = "features"
	ProbabilityName = "probability"
	LabelName       = "label"
	batchParam      = "batch"
)

// Export writes m as a serialized ONNX ModelProto whose graph is named
// graphName. It refuses a model that fails Validate, with Validate's error.
func Export(m *model.Model, graphName string) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("exporting model: %w", err)
	}
	if graphName == "" {
		return nil, fmt.Errorf("exporting model: empty graph name, expected one such as %q", "student_success")
	}
	mp, err := modelProto(m, graphName)
	if err != nil {
		return nil, err
	}
	// Deterministic fixes map and field order, so equal models give equal
	// bytes; nothing time- or host-dependent is written.
	return proto.MarshalOptions{Deterministic: true}.Marshal(mp)
}

func modelProto(m *model.Model, graphName string) (*pb.ModelProto, error) {
	meta, err := metadata(m)
	if err != nil {
		return nil, err
	}
	return &pb.ModelProto{
		IrVersion:     proto.Int64(IRVersion),
		OpsetImport:   []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:  proto.String(Producer),
		Graph:         graph(m, graphName),
		MetadataProps: meta,
	}, nil
}

// metadata records what the graph's numbers alone do not say: the feature
// names in input column order, the kind and the threshold.
func metadata(m *model.Model) ([]*pb.StringStringEntryProto, error) {
	names, err := json.Marshal(m.Features)
	if err != nil {
		return nil, fmt.Errorf("exporting feature names: %w", err)
	}
	return []*pb.StringStringEntryProto{
		entry("features", string(names)),
		entry("kind", m.Kind),
		entry("threshold", fmt.Sprint(m.Threshold)),
	}, nil
}

func entry(k, v string) *pb.StringStringEntryProto {
	return &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)}
}

func graph(m *model.Model, name string) *pb.GraphProto {
	g := &pb.GraphProto{
		Name:   proto.String(name),
		Input:  []*pb.ValueInfoProto{valueInfo(InputName, pb.TensorProto_FLOAT, int64(len(m.Features)))},
		Output: []*pb.ValueInfoProto{valueInfo(ProbabilityName, pb.TensorProto_FLOAT, 1), valueInfo(LabelName, pb.TensorProto_INT64, 1)},
	}
	logit := addLayers(g, m)
	addHead(g, logit, m.Threshold)
	return g
}

// valueInfo is a [batch, width] tensor whose first dimension is named, so
// the server sees it open and stacks requests along it.
func valueInfo(name string, t pb.TensorProto_DataType, width int64) *pb.ValueInfoProto {
	dims := []*pb.TensorShapeProto_Dimension{
		{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: batchParam}},
		{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: width}},
	}
	tt := &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(t)), Shape: &pb.TensorShapeProto{Dim: dims}}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}}
}
