package server

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Once the serve context ends, readiness answers 503 before the drain
// starts, so a probe on a connection still open sees the server going.
func TestReadinessTurnsFalseWhenDraining(t *testing.T) {
	s := New(DefaultConfig(), nil, nil, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.draining.Store(true) // models is nil: a draining server never asks it
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/v2/health/ready")
	s.handle(&ctx)
	if got, body := ctx.Response.StatusCode(), string(ctx.Response.Body()); got != fasthttp.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("ready while draining: %d %s, want 503", got, body)
	}
}
