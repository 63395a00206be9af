package server

import (
	"errors"
	"fmt"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// statusOf is the one place an error becomes an HTTP status.
func statusOf(err error) int {
	var mna methodNotAllowed
	if errors.As(err, &mna) {
		return fasthttp.StatusMethodNotAllowed
	}
	var rl *rateLimited
	if errors.As(err, &rl) {
		return fasthttp.StatusTooManyRequests
	}
	var rt readTimedOut
	if errors.As(err, &rt) {
		return fasthttp.StatusRequestTimeout
	}
	switch tensor.KindOf(err) {
	case tensor.InvalidArgument:
		return fasthttp.StatusBadRequest
	case tensor.NotFound:
		return fasthttp.StatusNotFound
	case tensor.Unavailable, tensor.ResourceExhausted:
		return fasthttp.StatusServiceUnavailable
	case tensor.DeadlineExceeded:
		return fasthttp.StatusGatewayTimeout
	case tensor.Unauthenticated:
		return fasthttp.StatusUnauthorized
	case tensor.PermissionDenied:
		return fasthttp.StatusForbidden
	case tensor.TooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusInternalServerError
}

// writeError answers {"error": "..."} with the status of err's kind.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	status := statusOf(err)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	if tensor.KindOf(err) == tensor.ResourceExhausted {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	ctx.SetContentType("application/json")
	b := append(ctx.Response.Body()[:0], `{"error":`...)
	b = v2.AppendString(b, err.Error())
	ctx.Response.SetBodyRaw(append(b, '}'))
}

// errorHandler answers errors fasthttp meets before a handler runs (headers
// too large or too slow, a malformed request line) in the protocol's JSON
// shape. Bodies are the handlers' to read (body.go).
func errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		// The request line and headers did not fit fasthttp's read buffer:
		// 431, as fasthttp's own handler would answer.
		writeError(ctx, tensor.Errorf(tensor.InvalidArgument, "request headers are larger than the server reads (%d bytes)", defaultReadBuffer))
		ctx.SetStatusCode(fasthttp.StatusRequestHeaderFieldsTooLarge)
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// The client sent its headers too slowly for server.read_timeout.
		writeError(ctx, readTimedOut{fmt.Errorf("request not read within server.read_timeout: %v", err)})
		return
	}
	writeError(ctx, tensor.Errorf(tensor.InvalidArgument, "malformed HTTP request: %v", err))
}

// defaultReadBuffer is fasthttp's read buffer when the server sets none: it
// bounds a request's line and headers.
const defaultReadBuffer = 4096
