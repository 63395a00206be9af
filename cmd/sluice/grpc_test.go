package main

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tritonpb"
)

// TestServeAnswersGRPC runs `sluice serve` and calls its gRPC port as a
// Triton gRPC client would: readiness, then one inference.
func TestServeAnswersGRPC(t *testing.T) {
	ortest.Init(t)
	_, grpcAddr := serveBothInBackground(t, "-repository.path", studentRepo(t))
	if grpcAddr == "" {
		t.Fatal("the serve log names no grpc_addr")
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := tritonpb.NewGRPCInferenceServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The port opens before the models load, as HTTP's does.
	for {
		r, err := c.ServerReady(ctx, &tritonpb.ServerReadyRequest{})
		if err != nil {
			t.Fatalf("ServerReady: %v", err)
		}
		if r.Ready {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("never ready over gRPC")
		case <-time.After(20 * time.Millisecond):
		}
	}
	var x []byte
	for _, v := range []float32{1, 1, 1, 1, 1, 1, 0, 0} {
		x = binary.LittleEndian.AppendUint32(x, math.Float32bits(v))
	}
	resp, err := c.ModelInfer(ctx, &tritonpb.ModelInferRequest{ModelName: "student-success",
		Inputs:           []*tritonpb.ModelInferRequest_InferInputTensor{{Name: "features", Datatype: "FP32", Shape: []int64{1, 8}}},
		RawInputContents: [][]byte{x}})
	if err != nil {
		t.Fatal(err)
	}
	var label []byte
	for i, o := range resp.Outputs {
		if o.Name == "label" {
			label = resp.RawOutputContents[i]
		}
	}
	if resp.ModelVersion != "1" || len(label) != 8 || binary.LittleEndian.Uint64(label) != 1 {
		t.Errorf("gRPC infer: version %q, label %v; want version 1 and label 1, as over HTTP", resp.ModelVersion, label)
	}
}
