// Package tritonpb holds Triton Inference Server's protobuf definitions as
// generated Go code: the gRPC inference service GRPCInferenceService (the
// KServe v2 protocol plus Triton's extensions: model configuration,
// statistics, repository control, shared memory, trace and log settings) and
// the model configuration messages, ModelConfig above all, that Triton's
// config.pbtxt files hold in protobuf text format. The proto package is
// "inference", as in Triton, so Triton clients and config files work with
// Sluice unchanged.
//
// The sources are tritonpb/proto/model_config.proto and
// tritonpb/proto/grpc_service.proto, written from Triton's published
// definition with the same messages, names and field numbers. The generated
// files (model_config.pb.go, grpc_service.pb.go, grpc_service_grpc.pb.go)
// are committed, so building Sluice needs no protoc. After editing a .proto
// file, regenerate them with
//
//	make proto
//
// which needs protoc (Debian's protobuf-compiler) and installs the pinned
// protoc-gen-go and protoc-gen-go-grpc into .cache/bin.
package tritonpb
