package batching

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/tensor"
)

// panicky is a RunFunc that panics on its first batch and runs the rest.
type panicky struct {
	afterCopy bool // panic once the inputs are copied rather than before
	runs      atomic.Int64
}

func (p *panicky) run(ctx context.Context, inst int, bt *Batch) error {
	first := p.runs.Add(1) == 1
	if first && !p.afterCopy {
		panicInRun()
	}
	bt.InputsCopied()
	if first {
		panicInRun()
	}
	return nil
}

// panicInRun is a named frame for the logged stack to show.
func panicInRun() { panic("cutting rows back: index out of range") }

// lockedBuffer is a log destination the workers write while a test reads.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// submitAll submits one call per tag at once and returns their errors in
// tag order once all have returned.
func submitAll(b *Batcher, tags ...int) []error {
	chans := make([]chan error, len(tags))
	for i, tag := range tags {
		chans[i] = submitAsync(b, item(tag, 1), 0)
	}
	errs := make([]error, len(tags))
	for i, ch := range chans {
		errs[i] = <-ch
	}
	return errs
}

// counterValue reads the counter name{model,version} from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, model, version string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := m.GetLabel()
			if len(l) == 2 && l[0].GetValue() == model && l[1].GetValue() == version {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s{model=%q,version=%q} is not exported", name, model, version)
	return 0
}

func TestPanickingRunFailsOnlyItsBatch(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cfg := DefaultConfig()
	// Three calls fill a batch; alone they wait for company until Close.
	cfg.MaxBatchSize, cfg.MaxQueueDelay = 3, time.Hour
	p := &panicky{}
	b, err := New(cfg, p.run, metrics.NewStats("m", "1", cfg.MaxBatchSize),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range submitAll(b, 1, 2, 3) {
		if !errors.Is(err, ErrFailed) || !errors.Is(err, ErrPanic) || tensor.KindOf(err) != tensor.Internal {
			t.Errorf("call %d of the panicked batch: err = %v, want an internal error wrapping ErrFailed and ErrPanic", i, err)
		}
	}
	for i, err := range submitAll(b, 4, 5, 6) {
		if err != nil {
			t.Errorf("call %d of the next batch: %v", i, err)
		}
	}
	drained := make([]chan error, 2)
	for i := range drained {
		drained[i] = submitAsync(b, item(7+i, 1), 0)
	}
	waitQueued(t, b, 2)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ch := range drained {
		if err := <-ch; err != nil {
			t.Errorf("queued call not drained after a panic: %v", err)
		}
	}
	if got := counterValue(t, reg, "sluice_batch_panics_total", "m", "1"); got != 1 || b.Stats().Panics.Load() != 1 {
		t.Errorf("panics: counter %v, stats %d; want 1 and 1", got, b.Stats().Panics.Load())
	}
	if s := b.Stats(); s.Fail.Count() != 3 || s.Success.Count() != 5 || s.Queued() != 0 || s.InFlight() != 0 {
		t.Errorf("fail %d success %d queued %d in flight %d; want 3, 5, 0, 0",
			s.Fail.Count(), s.Success.Count(), s.Queued(), s.InFlight())
	}
	if l := logs.String(); !strings.Contains(l, "index out of range") || !strings.Contains(l, "panicInRun") {
		t.Errorf("the log does not show the panic and its stack:\n%s", l)
	}
}

// batcherStacks are the stacks of the goroutines running the batcher's
// code: its workers, its timer, and callers waiting in Submit.
func batcherStacks() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:goruntime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "batching.(*Batcher).") {
			out = append(out, g)
		}
	}
	return out
}

// waitBatcherGoroutines waits until exactly n goroutines run the batcher's
// code whose stacks contain frame.
func waitBatcherGoroutines(t *testing.T, frame string, n int) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		got = got[:0]
		for _, g := range batcherStacks() {
			if strings.Contains(g, frame) {
				got = append(got, g)
			}
		}
		if len(got) == n {
			return
		}
	}
	t.Fatalf("%d goroutines in %q, want %d:\n%s", len(got), frame, n, strings.Join(got, "\n\n"))
}

func TestPanickingRunLeaksNoGoroutine(t *testing.T) {
	waitBatcherGoroutines(t, "batching.", 0) // earlier tests' batchers are gone
	cfg := DefaultConfig()
	cfg.Instances = 2
	p := &panicky{afterCopy: true}
	b, err := New(cfg, p.run, nil, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(context.Background(), item(1, 1), 0, 0); !errors.Is(err, ErrPanic) {
		t.Fatalf("err = %v, want the run's panic", err)
	}
	for i, err := range submitAll(b, 2, 3, 4, 5) {
		if err != nil {
			t.Errorf("call %d after the panic: %v", i, err)
		}
	}
	// Both workers are still there, and no more: the panicked one went on.
	waitBatcherGoroutines(t, "batching.(*Batcher).worker(", 2)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitBatcherGoroutines(t, "batching.", 0)
}
