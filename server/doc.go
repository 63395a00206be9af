// Package server is Sluice's HTTP front door: the KServe v2 (Open Inference
// Protocol) REST API on fasthttp, with Triton's binary tensor, statistics
// and model repository extensions and Sluice's admin API. It owns
// everything HTTP: routing, methods, limits, auth, status codes, and the
// one mapping from error kinds to status codes (statusOf); the wire codec
// is package v2's.
//
// Invariants: a client mistake answers 4xx with {"error": "..."}, never 500
// or a panic; tensor bytes that point into a *fasthttp.RequestCtx are used
// only while its handler runs, and a *fasthttp.RequestCtx is never kept
// after it returns; control calls carry the request's deadline.
package server
