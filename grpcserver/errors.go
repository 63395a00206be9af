package grpcserver

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/tensor"
)

// codeOf is the one place an error becomes a gRPC code: the error's kind,
// after gRPC's canonical codes, as HTTP maps the same kinds to statuses.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	switch tensor.KindOf(err) {
	case tensor.InvalidArgument:
		return codes.InvalidArgument
	case tensor.NotFound:
		return codes.NotFound
	case tensor.Unavailable:
		return codes.Unavailable
	case tensor.ResourceExhausted, tensor.TooLarge:
		return codes.ResourceExhausted
	case tensor.DeadlineExceeded:
		return codes.DeadlineExceeded
	case tensor.Unauthenticated:
		return codes.Unauthenticated
	case tensor.PermissionDenied:
		return codes.PermissionDenied
	}
	return codes.Internal
}

// statusError is err as a gRPC status with the same message HTTP sends.
func statusError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}
