package batching

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-serving/sluice/tensor"
)

// Batcher queues the calls for one model version and runs them in batches.
type Batcher struct {
	cfg   Config
	pref  []int // preferred sizes, largest first
	run   RunFunc
	stats *Stats
	log   *slog.Logger // where a panicking run is reported

	mu sync.Mutex // guards q, dl, dlNext, closed, free and the guarded fields of Items and Batches
	q  levels
	dl deadlines
	// dlNext is when the expiry timer is set to fire. Calls share a
	// timeout, so a new deadline is rarely earlier: the timer is woken
	// only then, not once per call.
	dlNext time.Time
	closed bool
	// free lists the instances no batch holds. Whoever takes one from it
	// (a worker, or a caller running its own call) is that instance's only
	// user until it puts the index back.
	free []int
	// batches[i] is the Batch reused by whoever holds instance i; its ctx
	// and stop are changed only by that holder, under mu.
	batches []*Batch
	// inline lets a caller that finds the queue empty and an instance free
	// run its call on its own goroutine, sparing the hand-off to a worker
	// and back (two wake-ups that cost more than a small model's run).
	// Off under WorkerNice: the caller's thread does not have its niceness.
	inline bool

	cpuStride atomic.Int32  // 1 or cpuStride: how many batches one CPU reading stands for
	cpuTick   atomic.Uint32 // batches run, to pick the measured one in cpuStride

	wake     chan struct{} // cap 1: the queue changed; a free worker looks
	dlWake   chan struct{} // cap 1: the earliest deadline changed
	stopping chan struct{} // closed by Close: workers drain, then exit
	abort    context.Context
	abortAll context.CancelFunc // cancels running batches when a drain runs out of time
	workers  sync.WaitGroup     // worker goroutines and calls running inline
	expirer  chan struct{}      // closed when the expiry goroutine has exited
}

// New starts a batcher with one worker per instance and one expiry timer.
// stats may be nil. Close stops it.
func New(cfg Config, run RunFunc, stats *Stats, opts ...Option) (*Batcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if stats == nil {
		stats = NewStats(cfg.MaxBatchSize, nil)
	}
	b := &Batcher{
		cfg: cfg, pref: cfg.sortedPreferred(), run: run, stats: stats, log: slog.Default(),
		q:    newLevels(cfg.PriorityLevels),
		wake: make(chan struct{}, 1), dlWake: make(chan struct{}, 1),
		stopping: make(chan struct{}), expirer: make(chan struct{}),
	}
	for _, o := range opts {
		o(b)
	}
	b.abort, b.abortAll = context.WithCancel(context.Background())
	b.inline = cfg.WorkerNice == 0
	b.cpuStride.Store(1)
	for i := range cfg.Instances {
		bt := &Batch{b: b}
		bt.ctx, bt.stop = context.WithCancel(b.abort)
		b.batches = append(b.batches, bt)
		b.free = append(b.free, cfg.Instances-1-i) // instance 0 is taken first
	}
	for range cfg.Instances {
		b.workers.Add(1)
		go b.worker()
	}
	go b.expire()
	return b, nil
}

// Stats are the batcher's running statistics.
func (b *Batcher) Stats() *Stats { return b.stats }

// Config is the configuration the batcher runs with.
func (b *Batcher) Config() Config { return b.cfg }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Submit queues it and waits for its batch to run, for its deadline, or
// for ctx to end. The deadline is the earliest of ctx's, DefaultTimeout and
// timeout (0: none). priority is a level from 1 (first) to PriorityLevels;
// 0 means the default. Admission never blocks: a full queue is an error at
// once. After an error other than a rejection the Item must not be reused.
//
// A call that finds nothing queued and an instance free runs on the
// caller's goroutine. Its deadline and Close's drain limit still stop it;
// ctx's cancellation is then seen when the run ends, as the run is the
// call's alone and stopping it saves nobody else's time.
func (b *Batcher) Submit(ctx context.Context, it *Item, priority int, timeout time.Duration) error {
	now := time.Now()
	b.stats.Arrivals.Add(1)
	if err := b.admit(it, priority, now); err != nil {
		return err
	}
	it.deadline = b.deadline(ctx, now, timeout)
	if it.done == nil {
		it.done = make(chan struct{}, 1)
	}
	b.mu.Lock()
	if err := b.enqueue(it, now); err != nil {
		b.mu.Unlock()
		return err
	}
	if inst, ok := b.claim(it); ok {
		b.mu.Unlock()
		b.runInline(inst)
		<-it.done // execute has released it
		return it.err
	}
	b.mu.Unlock()
	signal(b.wake)
	select {
	case <-it.done:
	case <-ctx.Done():
		b.mu.Lock()
		b.leave(it, ErrCancelled)
		b.mu.Unlock()
		<-it.done
	}
	return it.err
}

func (b *Batcher) admit(it *Item, priority int, now time.Time) error {
	if priority == 0 {
		priority = b.cfg.DefaultPriority
	}
	if priority < 1 || priority > b.cfg.PriorityLevels {
		return tensor.Errorf(tensor.InvalidArgument, "priority %d: expected 1 (first) to %d", priority, b.cfg.PriorityLevels)
	}
	if b.cfg.MaxBatchSize > 0 && it.Rows > b.cfg.MaxBatchSize {
		return tensor.Errorf(tensor.InvalidArgument, "batch size %d is larger than the model's max_batch_size %d; split the request", it.Rows, b.cfg.MaxBatchSize)
	}
	it.prio = priority - 1
	return nil
}

func (b *Batcher) deadline(ctx context.Context, now time.Time, timeout time.Duration) time.Time {
	d, _ := ctx.Deadline()
	for _, t := range [...]time.Duration{b.cfg.DefaultTimeout, timeout} {
		if t > 0 && (d.IsZero() || now.Add(t).Before(d)) {
			d = now.Add(t)
		}
	}
	return d
}

// Admit tells, without taking the queue's lock, whether a call would be
// refused for a full queue now; nil means Submit may still find it full.
// A front door asks before it reads a request's body, so a call that
// cannot be queued costs neither the read nor the lock that the
// instances' workers need. A refusal counts as Submit's would.
func (b *Batcher) Admit() error {
	// queued moves under b.mu; read alone it may be a call or two stale,
	// which only shifts the refusal to enqueue's exact check.
	if n := b.stats.queued.Load(); n >= int64(b.cfg.MaxQueueSize) {
		b.stats.Arrivals.Add(1)
		b.stats.reject()
		return queueFull(n, b.cfg.MaxQueueSize)
	}
	return nil
}

func queueFull(n int64, limit int) error {
	return &classed{ErrRejected, ErrQueueFull, fmt.Sprintf("queue full: %d calls waiting, max_queue_size is %d; retry later", n, limit)}
}

// enqueue admits it under b.mu or says why not.
func (b *Batcher) enqueue(it *Item, now time.Time) error {
	if b.closed {
		return ErrClosed
	}
	if b.q.n >= b.cfg.MaxQueueSize {
		b.stats.reject()
		return queueFull(int64(b.q.n), b.cfg.MaxQueueSize)
	}
	it.state, it.enqueued, it.err, it.heapIdx = stateQueued, now, nil, -1
	b.q.push(it)
	b.stats.queued.Add(1)
	if !it.deadline.IsZero() {
		b.dl.push(it)
		if b.dl.peek() == it && it.deadline.Before(b.dlNext) {
			signal(b.dlWake) // the expiry timer would wake too late for it
		}
	}
	return nil
}

// leave ends it for cause, wherever it is; under b.mu.
func (b *Batcher) leave(it *Item, cause error) {
	msg := "deadline passed"
	if cause == ErrCancelled {
		msg = "caller went away"
	}
	switch it.state {
	case stateQueued:
		b.q.remove(it)
		b.stats.queued.Add(-1)
		it.err = &classed{ErrExpired, cause, fmt.Sprintf("%s after %v in the queue; the call was not run", msg, time.Since(it.enqueued).Round(time.Microsecond))}
		b.stats.expire()
		b.release(it)
		return
	case stateCopying, stateRunning:
		it.err = &classed{ErrExpired, cause, fmt.Sprintf("%s while its batch was running", msg)}
		b.stats.expire()
		bt := it.batch
		if bt.live--; bt.live == 0 {
			bt.stop() // nobody waits for this batch any more
		}
		if it.state == stateCopying {
			it.state = stateLeaving // its inputs are still being read
			return
		}
		b.release(it)
	}
}

// release lets the caller of it go; under b.mu.
func (b *Batcher) release(it *Item) {
	b.dl.remove(it)
	it.state = stateDone
	it.done <- struct{}{}
}

// expire is the one timer behind every deadline: it sleeps until the
// earliest one and removes whatever has passed, so a call leaves the queue
// when its deadline passes, not when a worker next looks.
func (b *Batcher) expire() {
	defer close(b.expirer)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.mu.Lock()
		now := time.Now()
		for it := b.dl.peek(); it != nil && !it.deadline.After(now); it = b.dl.peek() {
			b.dl.remove(it)
			b.leave(it, ErrDeadline)
		}
		next := time.Hour
		if it := b.dl.peek(); it != nil {
			next = it.deadline.Sub(now)
		}
		b.dlNext = now.Add(next)
		b.mu.Unlock()
		timer.Reset(next)
		select {
		case <-timer.C:
		case <-b.dlWake:
		case <-b.abort.Done():
			return
		}
	}
}

// Close stops admission, lets the workers run every queued call, and waits
// for them until ctx ends; then it cancels what still runs and fails what
// is still queued.
func (b *Batcher) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stopping)
	signal(b.wake) // a worker waiting for an instance sees the close too
	drained := make(chan struct{})
	go func() { b.workers.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("draining the queue: %w", ctx.Err())
		b.abortAll()
		<-drained
	}
	b.abortAll()
	<-b.expirer
	return err
}
