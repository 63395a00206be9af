// Package grpcserver is Sluice's gRPC front door: Triton's
// inference.GRPCInferenceService (a superset of KServe v2's gRPC API), so
// tritonclient's gRPC client, perf_analyzer -i grpc and KServe's gRPC
// clients work unchanged.
//
// It is a second door onto the same path as the HTTP server: calls are
// resolved, admitted, checked, batched and rolled out by the registry and
// the rollout controller exactly as HTTP calls are, with the HTTP server's
// keys, admin token, rate-limit buckets and TLS pair (lent through a Gate),
// and errors carry the same messages with the gRPC code of their kind.
package grpcserver
