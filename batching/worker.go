package batching

import (
	"context"
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"time"
)

// worker forms and runs batches for one instance until Close has drained
// the queue. Its Batch and timer are reused from batch to batch.
func (b *Batcher) worker(inst int) {
	defer b.workers.Done()
	if b.cfg.WorkerNice > 0 {
		// A niceness belongs to a thread: the worker keeps one for its
		// life (which ends with it). Waking a goroutine bound to its
		// thread costs a hand-off between threads, so only then.
		goruntime.LockOSThread()
		if err := setThreadNice(b.cfg.WorkerNice); err != nil {
			b.log.Warn("could not lower the instance thread's priority; it runs as the server's", "instance", inst, "worker_nice", b.cfg.WorkerNice, "error", err)
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	bt := &Batch{b: b}
	bt.ctx, bt.stop = context.WithCancel(b.abort)
	for b.next(bt, timer) {
		b.execute(inst, bt)
		if bt.ctx.Err() != nil { // cancelled: the next batch needs a fresh one
			bt.ctx, bt.stop = context.WithCancel(b.abort)
		}
	}
	bt.stop()
}

// next waits for work and takes the next batch into bt; false once the
// batcher is closed and its queue empty.
func (b *Batcher) next(bt *Batch, timer *time.Timer) bool {
	b.mu.Lock()
	for {
		if b.q.n == 0 {
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return false
			}
			select {
			case <-b.wake:
			case <-b.stopping:
			}
			b.mu.Lock()
			continue
		}
		now := time.Now()
		head := b.q.first(now, b.cfg.MaxPriorityWait)
		ready := b.gather(head, bt)
		idle := b.cfg.IdleDispatch && b.stats.inflight.Load() == 0 // nothing runs: no company is on its way soon
		if wait := head.enqueued.Add(b.cfg.MaxQueueDelay).Sub(now); !ready && !idle && !b.closed && wait > 0 {
			b.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-b.wake:
			case <-timer.C:
			case <-b.stopping:
			}
			timer.Stop()
			b.mu.Lock()
			continue
		}
		b.take(bt)
		more := b.q.n > 0
		b.mu.Unlock()
		if more {
			signal(b.wake) // another free worker can form the next batch
		}
		return true
	}
}

// gather collects into bt the calls that can join head's batch: same Key,
// in serving order, up to MaxBatchSize rows, cut at the largest preferred
// size reached (as Triton does, a full batch that is not a preferred size is
// cut to one that is). ready is true when the batch should go now rather than
// wait for more calls.
func (b *Batcher) gather(head *Item, bt *Batch) (ready bool) {
	bt.Items, bt.Rows = append(bt.Items[:0], head), head.Rows
	limit := b.cfg.MaxBatchSize
	if limit == 0 || bt.Rows >= limit {
		return true
	}
	skipped := 0
	b.q.each(head, func(it *Item) bool {
		switch {
		case it == head:
			return true
		case it.Key != head.Key:
			skipped++ // another shape: it forms its own batch
			return skipped < 4*limit
		case bt.Rows+it.Rows > limit:
			return false // keep queue order: no overtaking the call that does not fit
		}
		bt.Items = append(bt.Items, it)
		bt.Rows += it.Rows
		return bt.Rows < limit
	})
	for _, p := range b.pref {
		if p <= bt.Rows {
			b.cut(bt, p)
			return true
		}
	}
	return bt.Rows == limit || b.cfg.MaxQueueDelay == 0
}

// cut keeps the longest prefix of bt's calls with at most p rows.
func (b *Batcher) cut(bt *Batch, p int) {
	rows := 0
	for i, it := range bt.Items {
		if rows+it.Rows > p {
			bt.Items, bt.Rows = bt.Items[:i], rows
			return
		}
		rows += it.Rows
	}
}

// take moves bt's calls from the queue into the batch; under b.mu.
func (b *Batcher) take(bt *Batch) {
	for _, it := range bt.Items {
		b.q.remove(it)
		it.state, it.batch = stateCopying, bt
	}
	b.stats.queued.Add(-int64(len(bt.Items)))
	bt.live, bt.freed = len(bt.Items), false
	bt.InputTime, bt.InferTime, bt.OutputTime = 0, 0, 0
}

// runSafely runs bt, turning a panic of the run function (or of the code it
// calls to cut rows back to callers) into the error of bt's calls alone, so
// that neither the process nor this worker dies with the batch.
func (b *Batcher) runSafely(inst int, bt *Batch) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = b.panicked(inst, bt, v)
		}
	}()
	return b.run(bt.ctx, inst, bt)
}

// panicked reports a run's panic, from inside its deferred recovery so the
// stack still shows where it was raised, and says what its calls are told.
func (b *Batcher) panicked(inst int, bt *Batch, v any) error {
	// Whatever the run left behind under the batch's context is told to
	// stop; the worker gives its next batch a fresh one.
	bt.stop()
	b.stats.runPanicked()
	b.log.Error("batch run panicked; its calls fail with an internal error",
		"instance", inst, "calls", len(bt.Items), "rows", bt.Rows,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return &classed{ErrFailed, ErrPanic, fmt.Sprintf("run panicked: %v", v)}
}

// execute runs bt and answers its callers.
func (b *Batcher) execute(inst int, bt *Batch) {
	start := time.Now()
	for _, it := range bt.Items {
		b.stats.observeQueue(start.Sub(it.enqueued))
	}
	b.stats.inflight.Add(int64(len(bt.Items)))
	// Bound to its thread for the run alone (which does not park it), so
	// the thread's CPU time across the run is the batch's.
	goruntime.LockOSThread()
	cpu := threadCPU()
	err := b.runSafely(inst, bt)
	b.stats.CPU.Add(int64(threadCPU() - cpu))
	goruntime.UnlockOSThread()
	end := time.Now()
	b.stats.inflight.Add(-int64(len(bt.Items)))
	if err != nil {
		err = fmt.Errorf("batch of %d calls (%d rows) failed: %w", len(bt.Items), bt.Rows, err)
	}
	// Counted before any caller is answered: a caller that reads the
	// statistics after its answer finds its batch in them.
	b.stats.observeBatch(bt, start, end)
	b.mu.Lock()
	for _, it := range bt.Items {
		if (it.state == stateCopying || it.state == stateRunning) && !it.deadline.IsZero() && end.After(it.deadline) {
			// The expiry timer did not get to it before the run ended (a
			// busy scheduler); the deadline still decides.
			b.leave(it, ErrDeadline)
		}
		switch it.state {
		case stateCopying, stateRunning:
			it.err = err
			b.stats.observeCall(end.Sub(it.enqueued), err == nil)
			b.release(it)
		case stateLeaving:
			b.release(it)
		}
		it.batch = nil
	}
	b.mu.Unlock()
}
