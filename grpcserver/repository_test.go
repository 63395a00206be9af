package grpcserver_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tritonpb"
)

// TestLoadWithTritonConfig loads a model with the configuration a Triton
// client sends, Triton's ModelConfig as JSON, edited from what ModelConfig
// answered; Sluice's own keys work too.
func TestLoadWithTritonConfig(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success")
	ctx := callCtx(t)
	got, err := f.grpc.ModelConfig(ctx, &tritonpb.ModelConfigRequest{Name: "student-success"})
	if err != nil {
		t.Fatal(err)
	}
	mc := got.Config
	mc.MaxBatchSize = 8
	mc.GetDynamicBatching().PreferredBatchSize = []int32{4, 8}
	mc.InstanceGroup[0].Count = 1
	js, err := protojson.Marshal(mc)
	if err != nil {
		t.Fatal(err)
	}
	load := func(config string) error {
		_, err := f.grpc.RepositoryModelLoad(ctx, &tritonpb.RepositoryModelLoadRequest{ModelName: "student-success",
			Parameters: map[string]*tritonpb.ModelRepositoryParameter{"config": {ParameterChoice: &tritonpb.ModelRepositoryParameter_StringParam{StringParam: config}}}})
		return err
	}
	if err := load(string(js)); err != nil {
		t.Fatalf("load with Triton's JSON: %v", err)
	}
	after, err := f.grpc.ModelConfig(ctx, &tritonpb.ModelConfigRequest{Name: "student-success"})
	if err != nil {
		t.Fatal(err)
	}
	if a := after.Config; a.MaxBatchSize != 8 || len(a.InstanceGroup) != 1 || a.InstanceGroup[0].Count != 1 ||
		len(a.GetDynamicBatching().GetPreferredBatchSize()) != 2 {
		t.Errorf("after the load: %v", a)
	}
	if err := load("max_batch_size: 4\ninstances: 1\nversion_policy: all\n"); err != nil {
		t.Fatalf("load with Sluice's YAML: %v", err)
	}
	if after, err = f.grpc.ModelConfig(ctx, &tritonpb.ModelConfigRequest{Name: "student-success"}); err != nil || after.Config.MaxBatchSize != 4 {
		t.Errorf("after the YAML load: %v, %v", after, err)
	}
	err = load(`{"max_batch_size": 4, "dynamic_batching": {"max_queue_delay_microseconds": "x"}}`)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
		t.Errorf("a config in neither form: %v", err)
	}
	_, err = f.grpc.RepositoryModelLoad(ctx, &tritonpb.RepositoryModelLoadRequest{ModelName: "student-success",
		Parameters: map[string]*tritonpb.ModelRepositoryParameter{"file:1/model.onnx": {ParameterChoice: &tritonpb.ModelRepositoryParameter_BytesParam{BytesParam: []byte{1}}}}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
		t.Errorf("a load with model files: %v", err)
	}
}
