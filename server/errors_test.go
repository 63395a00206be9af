package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/tensor"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"bad input", tensor.Errorf(tensor.InvalidArgument, "x"), 400},
		{"unknown model", tensor.Errorf(tensor.NotFound, "x"), 404},
		{"not ready", tensor.Errorf(tensor.Unavailable, "x"), 503},
		{"closing", fmt.Errorf("model: %w", batching.ErrClosed), 503},
		{"queue full", fmt.Errorf("model: %w", batching.ErrRejected), 503},
		{"deadline", fmt.Errorf("model: %w", batching.ErrExpired), 504},
		{"too large", tensor.Errorf(tensor.TooLarge, "x"), 413},
		{"wrong method", methodNotAllowed{errors.New("x")}, 405},
		{"unauthenticated", tensor.Errorf(tensor.Unauthenticated, "x"), 401},
		{"forbidden", tensor.Errorf(tensor.PermissionDenied, "x"), 403},
		{"unclassified", errors.New("x"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusOf(tt.err); got != tt.want {
				t.Errorf("statusOf = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestQueueFullCarriesRetryAfter(t *testing.T) {
	var ctx fasthttp.RequestCtx
	writeError(&ctx, fmt.Errorf("model: %w", batching.ErrRejected))
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Header.Peek("Retry-After")) == "" {
		t.Errorf("status %d Retry-After %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Retry-After"))
	}
}
