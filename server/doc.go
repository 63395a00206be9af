// Package server is Sluice's HTTP front door: the KServe v2 (Open Inference
// Protocol) REST API on fasthttp, with Triton's binary tensor extension. It
// owns everything HTTP: routing, limits, decoding and encoding tensors, and
// the one mapping from error kinds to status codes (statusOf).
//
// Invariants: a client mistake answers 4xx with {"error": "..."}, never 500
// or a panic; tensor bytes that point into a *fasthttp.RequestCtx are used
// only while its handler runs; JSON tensor data is parsed by hand into typed
// little-endian bytes, never through reflection.
package server
