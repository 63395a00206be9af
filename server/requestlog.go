package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// headerRequestID carries a call's request id: read from the request when
// the caller sent a usable one, always written on the response.
const headerRequestID = "X-Request-Id"

// maxRequestIDLen bounds an id taken from the caller, so a client cannot
// make every log line of its calls arbitrarily long.
const maxRequestIDLen = 128

// callInfo is what the server knows of one call beyond the RequestCtx.
// It is pooled and reached through a user value keyed by callKey, so
// giving a call its id costs no allocation once the pool is warm.
type callInfo struct {
	id []byte // the request id; valid until the observed handler returns
}

// callKey is the user-value key of a call's *callInfo; a zero-size key
// converts to an interface without allocating.
type callKey struct{}

var callInfoPool = sync.Pool{New: func() any { return &callInfo{id: make([]byte, 0, 32)} }}

// observe wraps next with what every call gets whatever its route: a
// request id, returned in X-Request-Id and carried by every log line of the
// call (see callLog), and, when server.access_log is on, one access-log
// line once the answer is ready.
func (s *Server) observe(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		logged := s.cfg.AccessLog && (s.cfg.AccessLogProbes || !isProbe(ctx.Path()))
		var start time.Time
		if logged {
			start = time.Now()
		}
		ci := callInfoPool.Get().(*callInfo)
		ci.id = requestID(ci.id[:0], &ctx.Request.Header)
		ctx.SetUserValue(callKey{}, ci)
		next(ctx)
		// Set after next: an error answer resets the response, headers too.
		ctx.Response.Header.SetBytesV(headerRequestID, ci.id)
		if logged {
			s.accessLog(ctx, ci.id, time.Since(start))
		}
		// The RequestCtx outlives the call on its connection; it must not
		// hold the info once the pool may hand it to another call.
		ctx.RemoveUserValue(callKey{})
		callInfoPool.Put(ci)
	}
}

// callLog is the server's logger for lines written while serving ctx: it
// carries the call's request_id. It is built when a line is written, not
// per call, so a call that logs nothing allocates nothing for it.
func (s *Server) callLog(ctx *fasthttp.RequestCtx) *slog.Logger {
	if ci, ok := ctx.UserValue(callKey{}).(*callInfo); ok {
		return s.log.With("request_id", string(ci.id))
	}
	return s.log // a handler called without observe, as in-process tests do
}

// requestID appends the call's id to dst: the caller's X-Request-Id when
// it is usable, else the trace-id of a well-formed W3C traceparent, else a
// fresh one. An unusable X-Request-Id falls through to traceparent, whose
// trace-id ties the call to the caller's trace.
func requestID(dst []byte, h *fasthttp.RequestHeader) []byte {
	if id := h.Peek(headerRequestID); validRequestID(id) {
		return append(dst, id...)
	}
	if id, ok := traceID(h.Peek("traceparent")); ok {
		return append(dst, id...)
	}
	return newRequestID(dst)
}

// validRequestID accepts 1 to maxRequestIDLen printable ASCII bytes (space
// to tilde): anything else could forge or break log lines and headers.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range id {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// traceID returns the trace-id of a version-00 traceparent,
// 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>, checked strictly
// as W3C Trace Context says: lowercase hex, and neither id all zeros.
func traceID(tp []byte) ([]byte, bool) {
	if len(tp) != 55 || string(tp[:3]) != "00-" || tp[35] != '-' || tp[52] != '-' {
		return nil, false
	}
	trace, parent, flags := tp[3:35], tp[36:52], tp[53:55]
	if !lowerHex(trace) || !lowerHex(parent) || !lowerHex(flags) || allZeros(trace) || allZeros(parent) {
		return nil, false
	}
	return trace, true
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZeros(b []byte) bool {
	return len(bytes.Trim(b, "0")) == 0
}

// newRequestID appends 16 random bytes in hex, the size of a W3C trace-id.
// The ids need to be unique, not secret, so they come from math/rand/v2's
// per-thread generator (seeded from the OS), which neither locks nor
// allocates, rather than from crypto/rand.
func newRequestID(dst []byte) []byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.AppendEncode(dst, b[:])
}

// isProbe tells health probes and scrapes, which arrive every few seconds
// from machines and would drown the access log of calls.
func isProbe(path []byte) bool {
	return bytes.HasPrefix(path, []byte("/v2/health/")) || string(path) == "/metrics"
}

// accessLog writes the call's one access-log line. It runs after the
// answer is ready, so latency is the server's time on the call, without
// reading the request or writing the response on the wire.
func (s *Server) accessLog(ctx *fasthttp.RequestCtx, id []byte, latency time.Duration) {
	if !s.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	r := parseRoute(ctx.Path())
	if r.kind == routeAdminAction {
		r.version = "" // parseAdmin keeps the rollout action there
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.String("model", r.model),
		slog.String("version", r.version),
		slog.String("serving_version", string(ctx.Response.Header.Peek("Sluice-Model-Version"))),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.Int("request_bytes", requestBytes(&ctx.Request)),
		slog.Int("response_bytes", responseBytes(&ctx.Response)),
		slog.Int64("latency_us", latency.Microseconds()),
		slog.String("request_id", string(id)),
		slog.String("remote", ctx.RemoteAddr().String()),
	)
}

// requestBytes is the request's body size as its Content-Length tells it,
// read or not (a refused call's body is not); 0 for none, -1 for chunked.
func requestBytes(req *fasthttp.Request) int {
	if req.IsBodyStream() {
		return max(req.Header.ContentLength(), -1)
	}
	return len(req.Body())
}

// responseBytes is the answer's body size; a streamed body is not read
// (Body would drain the stream), its Content-Length is told, -1 if unknown.
func responseBytes(resp *fasthttp.Response) int {
	if resp.IsBodyStream() {
		return resp.Header.ContentLength()
	}
	return len(resp.Body())
}
