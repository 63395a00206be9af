// Package client is a Go client for Sluice's KServe v2 API (and any server
// speaking it, Triton's included), over HTTP (Client: inference with JSON
// or binary tensors, model metadata, readiness, the repository and
// statistics extensions) and over gRPC (GRPC: Triton's
// inference.GRPCInferenceService, tensors always raw; inference, metadata,
// readiness and statistics).
//
// A request can be prepared once (Prepare) and sent many times (Send, or a
// Caller per goroutine) without encoding again: the load harness sends the
// same bytes at high rates and reads only the status and the serving
// version. Both transports prepare the same Prepared and make the same
// Caller, and a gRPC answer's Result carries the HTTP status the HTTP door
// answers for its code, so the harness counts both alike. A Prepared is
// sent only by the transport that prepared it.
package client
