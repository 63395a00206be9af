package server

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/tensor"
)

// ServeMetrics answers GET /metrics on ln, as Triton's separate metrics
// port does (server.metrics_addr), until ctx ends. The inference port
// keeps its /metrics too.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) != "/metrics" {
				writeError(ctx, tensor.Errorf(tensor.NotFound, "no endpoint %s on the metrics address; scrape /metrics", ctx.Path()))
				return
			}
			s.metricsHandler(ctx)
		},
		Name: "sluice", ReadTimeout: s.cfg.ReadTimeout, WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout,
		Logger: fasthttpLogger{s.log},
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.ShutdownWithContext(sctx)
	if serr := <-done; serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // a scrape still open is cut when the process exits
	}
	return err
}
