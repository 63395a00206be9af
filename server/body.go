package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/tensor"
)

// fasthttp streams request bodies (Server.StreamRequestBody): a handler runs
// once the headers and the body's first 8 KB have arrived, so a call that
// will be refused (queue full, model not ready, no key, over its rate) is
// answered before its body is read. What the handler leaves unread fasthttp
// discards after the answer has gone, through an 8 KB buffer, up to 256 KB;
// past that it closes the connection. Either way the body is never held in
// memory, and the refusal does not wait for it. A call that is admitted
// reads its body here.

// bodyBudget bounds the bytes of inference bodies held in memory at once:
// read, decoded, queued or running. A call whose body would pass the bound
// is refused before it is read, like a call that meets a full queue.
type bodyBudget struct {
	limit   int64
	held    atomic.Int64
	refused prometheus.Counter
}

func (b *bodyBudget) take(n int64) error {
	if b.held.Add(n) > b.limit {
		b.held.Add(-n)
		b.refused.Inc()
		return tensor.Errorf(tensor.ResourceExhausted, "request bodies in flight would pass server.max_body_bytes_in_flight (%d bytes); retry later", b.limit)
	}
	return nil
}

func (b *bodyBudget) give(n int64) { b.held.Add(-n) }

// tooLarge is the error of a body over server.max_body_bytes.
func tooLarge(limit int) error {
	return tensor.Errorf(tensor.TooLarge, "request body is larger than server.max_body_bytes (%d bytes)", limit)
}

// readTimedOut is a body the client did not finish sending within
// server.read_timeout: 408, as HTTP names it, not a fault of the
// request's form.
type readTimedOut struct{ error }

// readBody returns the request's body: read from the connection into dst's
// array when fasthttp streams it, or the body fasthttp already holds (a
// request built in process). held is what was taken from budget (nil: no
// budget), to be given back once nothing reads the body any more.
func readBody(ctx *fasthttp.RequestCtx, dst []byte, limit int, budget *bodyBudget) (body []byte, held int64, err error) {
	rs := ctx.RequestBodyStream()
	if rs == nil {
		return ctx.Request.Body(), 0, nil
	}
	n := ctx.Request.Header.ContentLength()
	if n < 0 { // chunked: the length is known at the end
		return readChunked(rs, dst[:0], limit, budget)
	}
	if n > limit {
		return nil, 0, tooLarge(limit)
	}
	if budget != nil {
		if err := budget.take(int64(n)); err != nil {
			return nil, 0, err
		}
		held = int64(n)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if got, err := io.ReadFull(rs, dst); err != nil {
		if budget != nil {
			budget.give(held)
		}
		return nil, 0, bodyError(err, got, n)
	}
	return dst, held, nil
}

// readChunked reads a body of unknown length, taking from budget as it grows.
func readChunked(rs io.Reader, dst []byte, limit int, budget *bodyBudget) ([]byte, int64, error) {
	var held int64
	fail := func(err error) ([]byte, int64, error) {
		if budget != nil {
			budget.give(held)
		}
		return nil, 0, err
	}
	for {
		if len(dst) == cap(dst) {
			grown := make([]byte, len(dst), min(max(2*cap(dst), 32<<10), limit+1))
			copy(grown, dst)
			dst = grown
		}
		if budget != nil && int64(cap(dst)) > held {
			if err := budget.take(int64(cap(dst)) - held); err != nil {
				return fail(err)
			}
			held = int64(cap(dst))
		}
		k, err := rs.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+k]
		if len(dst) > limit {
			return fail(tooLarge(limit))
		}
		if errors.Is(err, io.EOF) {
			return dst, held, nil
		}
		if err != nil {
			return fail(bodyError(err, len(dst), -1))
		}
	}
}

// bodyError names why a body could not be read after got bytes of want
// (-1: chunked).
func bodyError(err error, got, want int) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return readTimedOut{fmt.Errorf("request body not read within server.read_timeout: %d bytes arrived", got)}
	}
	if want >= 0 && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
		return tensor.Errorf(tensor.InvalidArgument, "request body ended after %d of its %d bytes (Content-Length)", got, want)
	}
	return tensor.Errorf(tensor.InvalidArgument, "reading the request body: %v", err)
}
