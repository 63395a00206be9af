package registry_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// TestEveryCallerGetsItsOwnRows is the batching property test on the real
// ONNX Runtime: callers of random sizes arriving at random times, batched
// together, each get back exactly the rows computed from their own inputs
// (rowid: y = 2x + 1, sum = the row's sum).
func TestEveryCallerGetsItsOwnRows(t *testing.T) {
	ortest.Init(t)
	cfg := "instances: 2\nmax_batch_size: 8\nmax_queue_delay: 2ms\npreferred_batch_sizes: [4, 8]\n"
	r := load(t, repo(t, map[string]map[string]string{"rowid": {"1": ortest.Fixture(t, "rowid")}}, map[string]string{"rowid": cfg}))
	v, err := r.Lookup("rowid", "")
	if err != nil {
		t.Fatal(err)
	}
	const callers, callsEach = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 99))
			for n := range callsEach {
				if err := callRowID(context.Background(), v.Infer, 1+rng.IntN(4), c, n); err != nil {
					errs <- err
					return
				}
				time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond) // random arrivals
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := v.Stats()
	t.Logf("%d calls in %d batches", st.Success.Count(), st.ExecutionCount.Load())
	if st.Success.Count() != callers*callsEach {
		t.Errorf("%d successes, want %d", st.Success.Count(), callers*callsEach)
	}
	// How many batches random arrivals make is timing's business, so it is
	// logged above; TestCallsWaitingTogetherRunAsOneBatch asserts batching.
}

// TestCallsWaitingTogetherRunAsOneBatch: with no time limit on the wait for
// company, eight one-row calls make exactly one full batch on the real
// runtime, and each caller gets its own rows back, whatever the timing.
func TestCallsWaitingTogetherRunAsOneBatch(t *testing.T) {
	ortest.Init(t)
	cfg := "instances: 2\nmax_batch_size: 8\nmax_queue_delay: 1h\n"
	r := load(t, repo(t, map[string]map[string]string{"rowid": {"1": ortest.Fixture(t, "rowid")}}, map[string]string{"rowid": cfg}))
	v, err := r.Lookup("rowid", "")
	if err != nil {
		t.Fatal(err)
	}
	// Should a call go missing, the others give up rather than wait an hour.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const callers = 8
	errs := make(chan error, callers)
	for c := range callers {
		go func() { errs <- callRowID(ctx, v.Infer, 1, c, 0) }()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if st := v.Stats(); st.ExecutionCount.Load() != 1 || st.Success.Count() != callers {
		t.Errorf("%d batches for %d calls, want 1 for %d", st.ExecutionCount.Load(), st.Success.Count(), callers)
	}
}

type inferFunc func(context.Context, *tensor.Request) (*tensor.Response, error)

func callRowID(ctx context.Context, infer inferFunc, rows, caller, n int) error {
	x := make([]float32, rows*4)
	for i := range x {
		x[i] = float32(caller*1000+n*10) + float32(i)*0.25
	}
	data := make([]byte, 4*len(x))
	for i, f := range x {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(f))
	}
	req := &tensor.Request{Inputs: []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{int64(rows), 4}, Data: data}}}
	resp, err := infer(ctx, req)
	if err != nil {
		return fmt.Errorf("caller %d call %d: %v", caller, n, err)
	}
	y, sum := floats(resp.Outputs[0].Data), floats(resp.Outputs[1].Data)
	if len(y) != len(x) || len(sum) != rows {
		return fmt.Errorf("caller %d call %d: %d y and %d sums for %d rows", caller, n, len(y), len(sum), rows)
	}
	for i := range x {
		if y[i] != 2*x[i]+1 {
			return fmt.Errorf("caller %d call %d: y[%d] = %v, want %v (another caller's row?)", caller, n, i, y[i], 2*x[i]+1)
		}
	}
	for r := range rows {
		want := x[4*r] + x[4*r+1] + x[4*r+2] + x[4*r+3]
		if math.Abs(float64(sum[r]-want)) > 1e-3*math.Abs(float64(want)) {
			return fmt.Errorf("caller %d call %d: sum[%d] = %v, want %v", caller, n, r, sum[r], want)
		}
	}
	return nil
}

func floats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func TestBatchingConfigChecks(t *testing.T) {
	ortest.Init(t)
	models := map[string]map[string]string{
		"nobatch": {"1": ortest.Fixture(t, "nobatch")},
		"badpref": {"1": ortest.Fixture(t, "rowid")},
	}
	configs := map[string]string{
		"nobatch": "max_batch_size: 4\n",
		"badpref": "max_batch_size: 4\npreferred_batch_sizes: [8]\n",
	}
	r := load(t, repo(t, models, configs))
	for name, want := range map[string]string{
		"nobatch": "max_batch_size: 4, but dimension 0 of the model is not an open batch dimension",
		"badpref": "preferred_batch_sizes[0]: 8, expected 1 to max_batch_size (4)",
	} {
		if _, err := r.Lookup(name, ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
}

func TestCallLargerThanMaxBatchSize(t *testing.T) {
	ortest.Init(t)
	r := load(t, repo(t, map[string]map[string]string{"rowid": {"1": ortest.Fixture(t, "rowid")}}, map[string]string{"rowid": "max_batch_size: 4\n"}))
	v, _ := r.Lookup("rowid", "")
	req := &tensor.Request{Inputs: []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{5, 4}, Data: make([]byte, 80)}}}
	_, err := v.Infer(context.Background(), req)
	if tensor.KindOf(err) != tensor.InvalidArgument || !strings.Contains(err.Error(), "batch size 5 is larger than the model's max_batch_size 4") {
		t.Errorf("err = %v", err)
	}
}
