package grpcserver

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/tensor"
)

// unaryObserve wraps every unary call: a panic becomes an Internal error
// instead of ending the process (grpc-go recovers none), every error leaves
// as a status of its kind, and the call is counted and, when asked, logged.
func (s *Server) unaryObserve(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = s.panicked(info.FullMethod, p)
		}
		err = statusError(err)
		s.observed(ctx, info.FullMethod, modelOf(req), err, start)
	}()
	return handler(ctx, req)
}

// streamObserve is unaryObserve for ModelStreamInfer: the stream as a
// whole (each request's own errors travel inside the stream).
func (s *Server) streamObserve(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = s.panicked(info.FullMethod, p)
		}
		err = statusError(err)
		s.observed(ss.Context(), info.FullMethod, "", err, start)
	}()
	return handler(srv, ss)
}

func (s *Server) panicked(method string, p any) error {
	s.log.Error("panic in a gRPC call", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return tensor.Errorf(tensor.Internal, "internal error in %s; the server logged it", shortMethod(method))
}

func (s *Server) observed(ctx context.Context, fullMethod, model string, err error, start time.Time) {
	method := shortMethod(fullMethod)
	code := status.Code(err)
	s.calls.WithLabelValues(method, code.String()).Inc()
	if !s.cfg.AccessLog {
		return
	}
	attrs := []any{"method", method, "code", code.String(), "latency", time.Since(start)}
	if model != "" {
		attrs = append(attrs, "model", model)
	}
	if id := firstMetadata(ctx, "x-request-id"); id != "" {
		attrs = append(attrs, "request_id", id)
	}
	if p, ok := peer.FromContext(ctx); ok {
		attrs = append(attrs, "remote", p.Addr.String())
	}
	if code != codes.OK {
		attrs = append(attrs, "error", status.Convert(err).Message())
	}
	s.log.Info("grpc", attrs...)
}

// shortMethod is "ModelInfer" of "/inference.GRPCInferenceService/ModelInfer".
func shortMethod(full string) string {
	return full[strings.LastIndexByte(full, '/')+1:]
}

// modelOf names the model a request is about, for the log.
func modelOf(req any) string {
	switch r := req.(type) {
	case interface{ GetModelName() string }:
		return r.GetModelName()
	case interface{ GetName() string }:
		return r.GetName()
	}
	return ""
}

// firstMetadata is the first value of key in the call's metadata.
func firstMetadata(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
