package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/proto"

	pb "github.com/sluice-serving/sluice/pipeline/onnx/onnxpb"
)

// floatTensor is an FP32 initializer in raw_data, which ONNX requires to be
// fixed-width little-endian whatever the host's byte order.
func floatTensor(name string, dims []int64, vals []float64) *pb.TensorProto {
	return &pb.TensorProto{
		Name:     proto.String(name),
		Dims:     dims,
		DataType: proto.Int32(int32(pb.TensorProto_FLOAT)),
		RawData:  float32Bytes(vals),
	}
}

func float32Bytes(vals []float64) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
	}
	return b
}
