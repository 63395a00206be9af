// Package client is a Go client for Sluice's KServe v2 API (and any server
// speaking it, Triton's included): inference with JSON or binary tensors,
// model metadata, readiness, the repository and statistics extensions.
//
// A request can be prepared once (Prepare) and sent many times (Send)
// without encoding again: the load harness sends the same bytes at high
// rates and reads only the status and the serving version.
package client
