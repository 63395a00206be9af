package tritonpb

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestServiceDescriptor(t *testing.T) {
	svc := File_grpc_service_proto.Services().ByName("GRPCInferenceService")
	if svc == nil {
		t.Fatal("GRPCInferenceService is not in grpc_service.proto")
	}
	if got := svc.FullName(); got != "inference.GRPCInferenceService" {
		t.Errorf("full name %q, want inference.GRPCInferenceService", got)
	}
	if got := GRPCInferenceService_ServiceDesc.ServiceName; got != "inference.GRPCInferenceService" {
		t.Errorf("grpc service name %q", got)
	}
	want := []string{
		"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
		"ModelInfer", "ModelStreamInfer", "ModelConfig", "ModelStatistics",
		"RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload",
		"SystemSharedMemoryStatus", "SystemSharedMemoryRegister", "SystemSharedMemoryUnregister",
		"CudaSharedMemoryStatus", "CudaSharedMemoryRegister", "CudaSharedMemoryUnregister",
		"TraceSetting", "LogSettings",
	}
	var got []string
	methods := svc.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		got = append(got, string(m.Name()))
		stream := m.Name() == "ModelStreamInfer"
		if m.IsStreamingClient() != stream || m.IsStreamingServer() != stream {
			t.Errorf("%s: client streaming %v, server streaming %v, want %v", m.Name(), m.IsStreamingClient(), m.IsStreamingServer(), stream)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("rpcs\n got %v\nwant %v", got, want)
	}
}

// The wire numbers clients depend on most.
func TestFieldNumbers(t *testing.T) {
	tests := []struct {
		msg   proto.Message
		field protoreflect.Name
		num   protoreflect.FieldNumber
	}{
		{&ModelInferRequest{}, "raw_input_contents", 7},
		{&ModelInferRequest{}, "parameters", 4},
		{&ModelInferResponse{}, "raw_output_contents", 6},
		{&ModelStreamInferResponse{}, "infer_response", 2},
		{&InferParameter{}, "uint64_param", 5},
		{&ModelStatistics{}, "response_stats", 9},
		{&ModelConfig{}, "backend", 17},
		{&ModelConfig{}, "runtime", 25},
		{&ModelConfig{}, "model_metrics", 26},
		{&ModelInstanceGroup{}, "host_policy", 9},
	}
	for _, tt := range tests {
		d := tt.msg.ProtoReflect().Descriptor()
		f := d.Fields().ByName(tt.field)
		if f == nil {
			t.Errorf("%s has no field %s", d.FullName(), tt.field)
		} else if f.Number() != tt.num {
			t.Errorf("%s.%s is field %d, want %d", d.FullName(), tt.field, f.Number(), tt.num)
		}
	}
}

func TestParseConfigPbtxt(t *testing.T) {
	const pbtxt = `
name: "classifier"
platform: "onnxruntime_onnx"
max_batch_size: 8
version_policy: { latest { num_versions: 2 } }
input [
  {
    name: "x"
    data_type: TYPE_FP32
    dims: [ 16 ]
  }
]
output [
  {
    name: "y"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }
]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100
}
instance_group [ { count: 2 kind: KIND_CPU } ]
`
	var cfg ModelConfig
	if err := prototext.Unmarshal([]byte(pbtxt), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.GetName() != "classifier" || cfg.GetPlatform() != "onnxruntime_onnx" || cfg.GetMaxBatchSize() != 8 {
		t.Errorf("name %q platform %q max_batch_size %d", cfg.GetName(), cfg.GetPlatform(), cfg.GetMaxBatchSize())
	}
	if n := cfg.GetVersionPolicy().GetLatest().GetNumVersions(); n != 2 {
		t.Errorf("version_policy.latest.num_versions = %d, want 2", n)
	}
	if len(cfg.GetInput()) != 1 {
		t.Fatalf("%d inputs, want 1", len(cfg.GetInput()))
	}
	in := cfg.GetInput()[0]
	if in.GetName() != "x" || in.GetDataType() != DataType_TYPE_FP32 || !slices.Equal(in.GetDims(), []int64{16}) {
		t.Errorf("input %v", in)
	}
	if len(cfg.GetOutput()) != 1 || cfg.GetOutput()[0].GetDataType() != DataType_TYPE_FP32 {
		t.Errorf("output %v", cfg.GetOutput())
	}
	db := cfg.GetDynamicBatching()
	if db == nil {
		t.Fatal("no dynamic_batching")
	}
	if !slices.Equal(db.GetPreferredBatchSize(), []int32{4, 8}) || db.GetMaxQueueDelayMicroseconds() != 100 {
		t.Errorf("dynamic_batching %v", db)
	}
	if ig := cfg.GetInstanceGroup(); len(ig) != 1 || ig[0].GetCount() != 2 || ig[0].GetKind() != ModelInstanceGroup_KIND_CPU {
		t.Errorf("instance_group %v", ig)
	}

	// The text form survives a round trip through the wire format.
	b, err := proto.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back ModelConfig
	if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(&cfg, &back) {
		t.Errorf("wire round trip: err %v, equal %v", err, proto.Equal(&cfg, &back))
	}
}

// A config using many of Triton's less common fields must parse too.
func TestParseRichConfigPbtxt(t *testing.T) {
	const pbtxt = `
name: "rich"
backend: "onnxruntime"
runtime: "libtriton_onnxruntime.so"
max_batch_size: 0
input [
  { name: "IMAGE" data_type: TYPE_UINT8 format: FORMAT_NHWC dims: [ 224, 224, 3 ]
    reshape: { shape: [ 1, 224, 224, 3 ] } allow_ragged_batch: true optional: false }
]
output [ { name: "PROB" data_type: TYPE_FP16 dims: [ -1 ] label_filename: "labels.txt" } ]
batch_input [ { kind: BATCH_ACCUMULATED_ELEMENT_COUNT target_name: "ACC" data_type: TYPE_FP32 source_input: "IMAGE" } ]
batch_output [ { target_name: "PROB" kind: BATCH_SCATTER_WITH_INPUT_SHAPE source_input: "IMAGE" } ]
optimization {
  graph { level: 1 }
  priority: PRIORITY_MAX
  cuda { graphs: true graph_spec [ { batch_size: 1 input { key: "IMAGE" value { dim: [ 224, 224, 3 ] } } } ] }
  execution_accelerators {
    gpu_execution_accelerator : [ { name : "tensorrt" parameters { key: "precision_mode" value: "FP16" } } ]
  }
  input_pinned_memory { enable: false }
  eager_batching: true
}
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  control_input [
    { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] } ] },
    { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
  ]
  state [ { input_name: "IN_STATE" output_name: "OUT_STATE" data_type: TYPE_INT32 dims: [ -1 ]
            initial_state: { data_type: TYPE_INT32 dims: [ 1 ] zero_data: true name: "zeros" } } ]
  oldest { max_candidate_sequences: 4 preferred_batch_size: [ 2 ] }
}
instance_group [
  { name: "gpu" kind: KIND_GPU count: 1 gpus: [ 0, 1 ] profile: [ "0" ]
    rate_limiter { resources [ { name: "R1" global: true count: 2 } ] priority: 2 }
    secondary_devices [ { kind: KIND_NVDLA device_id: 0 } ] host_policy: "policy_0" }
]
cc_model_filenames { key: "7.5" value: "model_t4.plan" }
metric_tags { key: "team" value: "vision" }
parameters { key: "intra_op_thread_count" value: { string_value: "4" } }
model_warmup [ { name: "w" batch_size: 1 count: 2 inputs { key: "IMAGE" value: { data_type: TYPE_UINT8 dims: [ 224, 224, 3 ] random_data: true } } } ]
model_operations { op_library_filename: "libcustom.so" }
model_transaction_policy { decoupled: true }
model_repository_agents { agents [ { name: "checksum" parameters { key: "MD5:1/model.onnx" value: "abc" } } ] }
response_cache { enable: true }
model_metrics { metric_control [ { metric_identifier { family: "nv_inference_first_response_histogram_ms" } histogram_options { buckets: [ 1, 2, 4 ] } } ] }
`
	var cfg ModelConfig
	if err := prototext.Unmarshal([]byte(pbtxt), &cfg); err != nil {
		t.Fatal(err)
	}
	sb := cfg.GetSequenceBatching()
	if sb.GetOldest().GetMaxCandidateSequences() != 4 || len(sb.GetControlInput()) != 2 {
		t.Errorf("sequence_batching %v", sb)
	}
	if st := sb.GetState(); len(st) != 1 || !st[0].GetInitialState()[0].GetZeroData() {
		t.Errorf("state %v", st)
	}
	acc := cfg.GetOptimization().GetExecutionAccelerators().GetGpuExecutionAccelerator()
	if len(acc) != 1 || acc[0].GetParameters()["precision_mode"] != "FP16" {
		t.Errorf("gpu_execution_accelerator %v", acc)
	}
	if cfg.GetParameters()["intra_op_thread_count"].GetStringValue() != "4" {
		t.Errorf("parameters %v", cfg.GetParameters())
	}
	if !cfg.GetModelTransactionPolicy().GetDecoupled() || !cfg.GetResponseCache().GetEnable() {
		t.Error("decoupled or response_cache not set")
	}

	var ens ModelConfig
	const ensemble = `
name: "pipeline"
platform: "ensemble"
ensemble_scheduling {
  step [
    { model_name: "pre" model_version: -1 input_map { key: "IN" value: "raw" } output_map { key: "OUT" value: "features" } },
    { model_name: "rich" model_version: -1 input_map { key: "IMAGE" value: "features" } output_map { key: "PROB" value: "prob" } }
  ]
  max_inflight_requests: 16
}
`
	if err := prototext.Unmarshal([]byte(ensemble), &ens); err != nil {
		t.Fatal(err)
	}
	if steps := ens.GetEnsembleScheduling().GetStep(); len(steps) != 2 || steps[1].GetInputMap()["IMAGE"] != "features" {
		t.Errorf("ensemble steps %v", steps)
	}
}
