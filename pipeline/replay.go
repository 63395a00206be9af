package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// replayCallTimeout bounds one replayed call, so that a stuck gateway ends
// a replay rather than holding it forever.
const replayCallTimeout = 30 * time.Second

// Replay sends calls inference calls to model through c, one row a call
// (rows taken in turn), as binary FP32 "features" [1, len(row)], from
// workers goroutines at once: a recorded or generated data set played
// against a gateway, such as new data whose drift the gateway should see.
// It stops at the first failed call or when ctx ends, and returns that
// error; in-flight calls finish first.
func Replay(ctx context.Context, c *client.Client, model string, rows [][]float64, calls, workers int) error {
	if err := checkReplay(rows, calls, workers); err != nil {
		return err
	}
	inputs := encodeRows(rows[:min(len(rows), calls)])
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, calls) {
		wg.Go(func() {
			if err := replayWorker(ctx, c, model, inputs, &next, int64(calls)); err != nil {
				cancel(err) // the first cause is kept
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func checkReplay(rows [][]float64, calls, workers int) error {
	switch {
	case len(rows) == 0:
		return errors.New("replay: no rows, expected at least one")
	case calls < 0:
		return fmt.Errorf("replay: %d calls, expected 0 or more", calls)
	case workers < 1:
		return fmt.Errorf("replay: %d workers, expected at least 1", workers)
	}
	for i, r := range rows {
		if len(r) == 0 || len(r) != len(rows[0]) {
			return fmt.Errorf("replay: row %d has %d values, expected %d as the first row, and more than 0", i+1, len(r), len(rows[0]))
		}
	}
	return nil
}

// encodeRows makes every row's input tensor once; each is then sent as
// often as its turn comes.
func encodeRows(rows [][]float64) [][]tensor.Tensor {
	out := make([][]tensor.Tensor, len(rows))
	for i, r := range rows {
		feats := make([]byte, 4*len(r))
		for j, v := range r {
			binary.LittleEndian.PutUint32(feats[4*j:], math.Float32bits(float32(v)))
		}
		out[i] = []tensor.Tensor{{Name: "features", DataType: tensor.FP32, Shape: []int64{1, int64(len(r))}, Data: feats}}
	}
	return out
}

// replayWorker sends the calls whose turn it takes until none are left or
// ctx ends.
func replayWorker(ctx context.Context, c *client.Client, model string, inputs [][]tensor.Tensor, next *atomic.Int64, calls int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("replay: a call panicked: %v", r)
		}
	}()
	for ctx.Err() == nil {
		i := next.Add(1) - 1
		if i >= calls {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, replayCallTimeout)
		_, err := c.Infer(cctx, model, "", inputs[i%int64(len(inputs))], client.Options{Binary: true})
		cancel()
		if err != nil {
			return fmt.Errorf("replay: call %d of %d to model %q: %w", i+1, calls, model, err)
		}
	}
	return context.Cause(ctx)
}
