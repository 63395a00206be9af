package grpcserver

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/sluice-serving/sluice/tritonpb"
)

// streamInFlight bounds the requests of one stream running at once: a
// client that streams faster than its model answers waits in Recv, and
// gRPC's flow control pushes back on it.
const streamInFlight = 64

// ModelStreamInfer runs each request of the stream as ModelInfer runs it,
// several at once so that they batch, and sends each reply as it is done:
// replies may come in another order than requests, matched by id, as
// Triton's are. A failed request is answered with error_message (the
// message HTTP would send) and its id, and the stream goes on.
func (s *Server) ModelStreamInfer(stream tritonpb.GRPCInferenceService_ModelStreamInferServer) error {
	ctx := stream.Context()
	var (
		wg      sync.WaitGroup
		sendMu  sync.Mutex // one Send at a time, as a gRPC stream takes; guards sendErr
		sendErr error      // the first failed Send: the stream is broken, stop reading
	)
	slots := make(chan struct{}, streamInFlight)
	// Every request's goroutine ends before the stream does: the stream
	// must not be used after this method returns.
	defer wg.Wait()
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		sendMu.Lock()
		broken := sendErr
		sendMu.Unlock()
		if broken != nil {
			<-slots
			return broken
		}
		wg.Go(func() {
			defer func() { <-slots }()
			out := s.streamReply(ctx, in)
			sendMu.Lock()
			defer sendMu.Unlock()
			if sendErr == nil {
				sendErr = stream.Send(out)
			}
		})
	}
}

// streamReply runs one request of a stream; a panic in it becomes that
// request's error, not the end of the process.
func (s *Server) streamReply(ctx context.Context, in *tritonpb.ModelInferRequest) (out *tritonpb.ModelStreamInferResponse) {
	defer func() {
		if p := recover(); p != nil {
			err := s.panicked("/inference.GRPCInferenceService/ModelStreamInfer", p)
			out = failed(in, err)
		}
	}()
	resp, err := s.infer(ctx, in)
	if err != nil {
		return failed(in, err)
	}
	return &tritonpb.ModelStreamInferResponse{InferResponse: resp}
}

func failed(in *tritonpb.ModelInferRequest, err error) *tritonpb.ModelStreamInferResponse {
	return &tritonpb.ModelStreamInferResponse{
		ErrorMessage:  err.Error(),
		InferResponse: &tritonpb.ModelInferResponse{Id: in.Id, ModelName: in.ModelName, ModelVersion: in.ModelVersion},
	}
}
