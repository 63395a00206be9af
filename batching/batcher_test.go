package batching

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/tensor"
)

// recorder is a RunFunc that remembers each batch's item tags and can be
// held at a gate, for tests that need an instance busy on demand.
type recorder struct {
	mu      sync.Mutex
	batches [][]int // tags of the items of each batch, in order
	gate    chan struct{}
	started chan struct{}
	fail    error
}

func newRecorder() *recorder {
	return &recorder{started: make(chan struct{}, 1024)}
}

func (r *recorder) run(ctx context.Context, inst int, bt *Batch) error {
	tags := make([]int, len(bt.Items))
	for i, it := range bt.Items {
		tags[i] = int(it.Inputs[0].Shape[0]) // the tests tag items through Shape[0]
	}
	r.mu.Lock()
	r.batches = append(r.batches, tags)
	r.mu.Unlock()
	r.started <- struct{}{}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	bt.InputsCopied()
	return r.fail
}

func (r *recorder) got() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]int(nil), r.batches...)
}

func item(tag, rows int) *Item {
	return &Item{Inputs: []tensor.Tensor{{Shape: []int64{int64(tag)}}}, Rows: rows}
}

func newBatcher(t *testing.T, cfg Config, r *recorder) *Batcher {
	t.Helper()
	b, err := New(cfg, r.run, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}

// submitAsync submits and reports the error on the returned channel.
func submitAsync(b *Batcher, it *Item, prio int) chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Submit(context.Background(), it, prio, 0) }()
	return ch
}

// waitQueued waits until n calls are queued; the batcher is polled, since
// the point is to order arrivals, not to time anything.
func waitQueued(t *testing.T, b *Batcher, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.Stats().Queued() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("queued = %d, want %d", b.Stats().Queued(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestLoneCallRunsAtOnceOnAnIdleInstance(t *testing.T) {
	r := newRecorder()
	cfg := DefaultConfig()
	cfg.MaxBatchSize = 8
	b := newBatcher(t, cfg, r)
	if err := b.Submit(context.Background(), item(1, 1), 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); len(got) != 1 || len(got[0]) != 1 {
		t.Errorf("batches = %v, want one batch of one call", got)
	}
}

func TestBatchesFormWhileTheInstanceIsBusy(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	cfg := DefaultConfig()
	cfg.MaxBatchSize = 4
	cfg.PreferredBatchSizes = []int{2}
	b := newBatcher(t, cfg, r)
	first := submitAsync(b, item(0, 1), 0)
	<-r.started // the only instance is now busy
	var errs []chan error
	for tag := 1; tag <= 5; tag++ {
		errs = append(errs, submitAsync(b, item(tag, 1), 0))
		waitQueued(t, b, int64(tag))
	}
	close(r.gate)
	for _, ch := range append(errs, first) {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	got := r.got()
	// With 5 waiting and max 4, the largest preferred size on hand (2)
	// cuts each batch: [1 2] [3 4] [5].
	want := [][]int{{0}, {1, 2}, {3, 4}, {5}}
	if len(got) != len(want) {
		t.Fatalf("batches = %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) || got[i][0] != want[i][0] {
			t.Errorf("batch %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestMaxBatchSizeAndShapeKeys(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	cfg := DefaultConfig()
	cfg.MaxBatchSize = 4
	b := newBatcher(t, cfg, r)
	first := submitAsync(b, item(0, 1), 0)
	<-r.started
	calls := []*Item{item(1, 3), item(2, 1), item(3, 2), item(4, 2)}
	calls[1].Key = 7 // another shape: never batched with the others
	var errs []chan error
	for i, it := range calls {
		errs = append(errs, submitAsync(b, it, 0))
		waitQueued(t, b, int64(i+1))
	}
	if err := b.Submit(context.Background(), item(9, 5), 0, 0); tensor.KindOf(err) != tensor.InvalidArgument {
		t.Errorf("5 rows over max 4: err = %v, want invalid argument", err)
	}
	close(r.gate)
	for _, ch := range append(errs, first) {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	got := r.got()
	// [1] (3 rows; 3 would make 5), then [2] alone (its own key), then [3 4].
	if len(got) != 4 || len(got[1]) != 1 || got[1][0] != 1 || got[2][0] != 2 || len(got[3]) != 2 {
		t.Errorf("batches = %v, want [[0] [1] [2] [3 4]]", got)
	}
}

func TestQueueDelayWaitsForCompany(t *testing.T) {
	// The delay outlasts any test: only company, filling the batch, lets the
	// first call go, however long the second takes to arrive.
	r := newRecorder()
	cfg := DefaultConfig()
	cfg.MaxBatchSize = 2
	cfg.MaxQueueDelay = time.Hour
	b := newBatcher(t, cfg, r)
	a := submitAsync(b, item(1, 1), 0)
	waitQueued(t, b, 1)
	c := submitAsync(b, item(2, 1), 0)
	for _, ch := range []chan error{a, c} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if got := r.got(); len(got) != 1 || len(got[0]) != 2 {
		t.Errorf("batches = %v, want both calls in one batch", got)
	}
}

func TestQueueDelayEndsTheWait(t *testing.T) {
	r := newRecorder()
	cfg := DefaultConfig()
	cfg.MaxBatchSize = 4
	cfg.MaxQueueDelay = 20 * time.Millisecond
	b := newBatcher(t, cfg, r)
	if err := b.Submit(context.Background(), item(1, 1), 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); len(got) != 1 || len(got[0]) != 1 {
		t.Errorf("batches = %v, want the lone call run alone once the delay passed", got)
	}
	// A lower bound on the monotonic clock: a slow machine only adds to it.
	if q := time.Duration(b.Stats().Queue.NS()); q < cfg.MaxQueueDelay {
		t.Errorf("queue time %v: the lone call went before the %v delay", q, cfg.MaxQueueDelay)
	}
}

func TestExpiryInRealTime(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	b := newBatcher(t, DefaultConfig(), r)
	busy := submitAsync(b, item(0, 1), 0)
	<-r.started
	start := time.Now()
	err := b.Submit(context.Background(), item(1, 1), 0, 30*time.Millisecond)
	late := time.Since(start) - 30*time.Millisecond
	if !errors.Is(err, ErrExpired) || !errors.Is(err, ErrDeadline) || tensor.KindOf(err) != tensor.DeadlineExceeded {
		t.Fatalf("err = %v, want expired/deadline", err)
	}
	// The instance is still busy: the call left by the batcher's timer, not
	// at dequeue. Its lateness is logged, not asserted (no timed asserts).
	t.Logf("left the queue %v after its deadline", late)
	if b.Stats().Queued() != 0 || b.Stats().Expired.Load() != 1 {
		t.Errorf("queued %d expired %d, want 0 and 1", b.Stats().Queued(), b.Stats().Expired.Load())
	}
	close(r.gate)
	<-busy
	if got := r.got(); len(got) != 1 {
		t.Errorf("the expired call ran: batches %v", got)
	}
}

func TestQueueFullAnswersAtOnce(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	cfg := DefaultConfig()
	cfg.MaxQueueSize = 2
	b := newBatcher(t, cfg, r)
	busy := submitAsync(b, item(0, 1), 0)
	<-r.started
	q1, q2 := submitAsync(b, item(1, 1), 0), submitAsync(b, item(2, 1), 0)
	waitQueued(t, b, 2)
	err := b.Submit(context.Background(), item(3, 1), 0, 0)
	if !errors.Is(err, ErrRejected) || !errors.Is(err, ErrQueueFull) || tensor.KindOf(err) != tensor.ResourceExhausted {
		t.Fatalf("err = %v, want rejected/queue full", err)
	}
	close(r.gate)
	for _, ch := range []chan error{busy, q1, q2} {
		if err := <-ch; err != nil {
			t.Error(err)
		}
	}
}

func TestPrioritiesAndStarvationBound(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	cfg := DefaultConfig()
	cfg.PriorityLevels, cfg.DefaultPriority = 2, 2
	cfg.MaxPriorityWait = time.Hour
	b := newBatcher(t, cfg, r)
	busy := submitAsync(b, item(0, 1), 0)
	<-r.started
	low := submitAsync(b, item(1, 1), 2)
	waitQueued(t, b, 1)
	high := submitAsync(b, item(2, 1), 1)
	waitQueued(t, b, 2)
	if err := b.Submit(context.Background(), item(3, 1), 3, 0); tensor.KindOf(err) != tensor.InvalidArgument {
		t.Errorf("priority 3 of 2 levels: err = %v", err)
	}
	close(r.gate)
	for _, ch := range []chan error{busy, low, high} {
		<-ch
	}
	if got := r.got(); len(got) != 3 || got[1][0] != 2 || got[2][0] != 1 {
		t.Errorf("batches = %v, want the high-priority call (2) before the low one (1)", got)
	}

	// With a starvation bound of zero the older low-priority call goes first.
	q := newLevels(2)
	old := &Item{prio: 1, enqueued: time.Now().Add(-time.Second)}
	young := &Item{prio: 0, enqueued: time.Now()}
	q.push(old)
	q.push(young)
	if q.first(time.Now(), 10*time.Millisecond) != old {
		t.Error("a low-priority call past the starvation bound was not served first")
	}
	if q.first(time.Now(), time.Hour) != young {
		t.Error("within the bound, priority did not win")
	}
}

func TestFailedBatchFailsOnlyItsCalls(t *testing.T) {
	r := newRecorder()
	r.fail = tensor.Errorf(tensor.Internal, "onnx runtime: boom")
	b := newBatcher(t, DefaultConfig(), r)
	err := b.Submit(context.Background(), item(1, 1), 0, 0)
	if err == nil || tensor.KindOf(err) != tensor.Internal || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the run's cause", err)
	}
	r.fail = nil
	if err := b.Submit(context.Background(), item(2, 1), 0, 0); err != nil {
		t.Errorf("next batch: %v", err)
	}
	if b.Stats().Fail.Count() != 1 || b.Stats().Success.Count() != 1 {
		t.Errorf("fail %d success %d", b.Stats().Fail.Count(), b.Stats().Success.Count())
	}
}

func TestRunningBatchCancelledWhenEveryCallerIsGone(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{}) // never opened: only cancellation ends the run
	b := newBatcher(t, DefaultConfig(), r)
	err := b.Submit(context.Background(), item(1, 1), 0, 20*time.Millisecond)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("err = %v, want expired", err)
	}
	// The run saw its context cancelled; the worker is free again.
	r.gate = nil
	if err := b.Submit(context.Background(), item(2, 1), 0, 0); err != nil {
		t.Errorf("after a cancelled batch: %v", err)
	}
}

func TestCloseDrainsTheQueue(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	b, err := New(DefaultConfig(), r.run, nil)
	if err != nil {
		t.Fatal(err)
	}
	var errs []chan error
	errs = append(errs, submitAsync(b, item(0, 1), 0))
	<-r.started
	for tag := 1; tag <= 3; tag++ {
		errs = append(errs, submitAsync(b, item(tag, 1), 0))
		waitQueued(t, b, int64(tag))
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close(context.Background()) }()
	closing := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.closed
	}
	for deadline := time.Now().Add(5 * time.Second); !closing(); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			close(r.gate) // let Close finish before the test ends
			t.Fatal("Close never stopped admission")
		}
	}
	if err := b.Submit(context.Background(), item(9, 1), 0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("submit after close: %v", err)
	}
	close(r.gate)
	for _, ch := range errs {
		if err := <-ch; err != nil {
			t.Errorf("queued call not drained: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Error(err)
	}
	if got := r.got(); len(got) != 4 {
		t.Errorf("ran %d batches, want 4", len(got))
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.MaxQueueSize = 0 },
		func(c *Config) { c.MaxBatchSize = -1 },
		func(c *Config) { c.PreferredBatchSizes = []int{2} },
		func(c *Config) { c.MaxBatchSize, c.PreferredBatchSizes = 4, []int{8} },
		func(c *Config) { c.DefaultPriority = 3 },
		func(c *Config) { c.Instances = 0 },
	}
	for i, mod := range bad {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("case %d accepted: %+v", i, c)
		}
	}
}

var sink atomic.Int64

func trivialRun(ctx context.Context, inst int, bt *Batch) error {
	bt.InputsCopied()
	sink.Add(int64(bt.Rows))
	return nil
}

func BenchmarkSubmitSerial(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxBatchSize = 8
	bt, err := New(cfg, trivialRun, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close(context.Background())
	it := item(1, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := bt.Submit(ctx, it, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubmitParallel(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxBatchSize, cfg.Instances = 8, 2
	bt, err := New(cfg, trivialRun, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close(context.Background())
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		it := item(1, 1)
		for pb.Next() {
			if err := bt.Submit(ctx, it, 0, time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestIdleDispatch: with idle_dispatch a lone call on an idle version runs
// at once, however long the delay; while another batch runs, a free
// instance still waits for company.
func TestIdleDispatch(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	cfg := DefaultConfig()
	cfg.Instances, cfg.MaxBatchSize, cfg.MaxQueueDelay, cfg.IdleDispatch = 2, 3, time.Hour, true
	b := newBatcher(t, cfg, r)
	busy := submitAsync(b, item(0, 1), 0) // idle: runs at once, and holds one instance at the gate
	<-r.started
	first := submitAsync(b, item(1, 1), 0)
	waitQueued(t, b, 1) // another batch runs: the free instance waits for company
	rest := []chan error{submitAsync(b, item(2, 1), 0)}
	waitQueued(t, b, 2) // the batch is not full yet: still waiting
	rest = append(rest, submitAsync(b, item(3, 1), 0))
	<-r.started // full: it runs beside the held one
	close(r.gate)
	for _, ch := range append(rest, first, busy) {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if got := r.got(); len(got) != 2 || len(got[0]) != 1 || len(got[1]) != 3 {
		t.Errorf("batches = %v, want [[0] [1 2 3]]: the lone call at once, then a full batch", got)
	}
}
