package registry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/tensor"
)

func TestClassify(t *testing.T) {
	own := &Version{cfg: ModelConfig{Batching: Batching{DefaultTimeout: Duration(time.Second)}}}
	none := &Version{}
	expired := fmt.Errorf("model %q: %w", "m", batching.ErrExpired)
	withTimeout := func(us int64) *tensor.Request {
		return &tensor.Request{Parameters: tensor.Parameters{"timeout": us}}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		req  *tensor.Request
		v    *Version
		err  error
		want Fault
	}{
		{"answered", context.Background(), &tensor.Request{}, own, nil, NoFault},
		{"runtime failure", context.Background(), &tensor.Request{}, own, errors.New("onnxruntime: Gather index out of bounds"), VersionFault},
		{"panicked batch", context.Background(), &tensor.Request{}, own, tensor.Errorf(tensor.Internal, "batch panicked"), VersionFault},
		{"its own timeout", context.Background(), &tensor.Request{}, own, expired, VersionFault},
		{"caller's shorter timeout", context.Background(), withTimeout(10), own, expired, NotCounted},
		{"caller's timeout, model has none", context.Background(), withTimeout(10), none, expired, NotCounted},
		{"caller's longer timeout is the model's", context.Background(), withTimeout(5_000_000), own, expired, VersionFault},
		{"caller gone", cancelled, &tensor.Request{}, own, expired, NotCounted},
		{"draining", context.Background(), &tensor.Request{}, own, batching.ErrClosed, NotCounted},
		{"queue full", context.Background(), &tensor.Request{}, own, batching.ErrRejected, NotCounted},
		{"bad input", context.Background(), &tensor.Request{}, own, tensor.Errorf(tensor.InvalidArgument, "input %q: wrong", "x"), NotCounted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.ctx, tt.req, tt.v, tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
