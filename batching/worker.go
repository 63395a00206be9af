package batching

import (
	"context"
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"time"
)

// worker forms batches and runs each on a free instance until Close has
// drained the queue. Its timer is reused from batch to batch.
func (b *Batcher) worker() {
	defer b.workers.Done()
	if b.cfg.WorkerNice > 0 {
		// A niceness belongs to a thread: the worker keeps one for its
		// life (which ends with it). Waking a goroutine bound to its
		// thread costs a hand-off between threads, so only then.
		goruntime.LockOSThread()
		if err := setThreadNice(b.cfg.WorkerNice); err != nil {
			b.log.Warn("could not lower the instance thread's priority; it runs as the server's", "worker_nice", b.cfg.WorkerNice, "error", err)
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		inst, ok := b.next(timer)
		if !ok {
			return
		}
		b.execute(inst, b.batches[inst])
	}
}

// next waits for work and a free instance, takes the next batch into that
// instance's Batch and returns the instance; false once the batcher is
// closed and its queue empty.
func (b *Batcher) next(timer *time.Timer) (int, bool) {
	b.mu.Lock()
	for {
		if b.q.n == 0 && b.closed {
			b.mu.Unlock()
			signal(b.wake) // a worker still waiting for an instance exits too
			return 0, false
		}
		if b.q.n == 0 || len(b.free) == 0 {
			stop := b.stopping
			if b.q.n > 0 {
				stop = nil // closing frees no instance: wait for one to come back
			}
			b.mu.Unlock()
			select {
			case <-b.wake:
			case <-stop:
			}
			b.mu.Lock()
			continue
		}
		inst := b.free[len(b.free)-1]
		bt := b.batches[inst]
		now := time.Now()
		head := b.q.first(now, b.cfg.MaxPriorityWait)
		ready := b.gather(head, bt)
		idle := b.idle()
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
		b.free = b.free[:len(b.free)-1]
		b.take(bt)
		more := b.q.n > 0 && len(b.free) > 0
		b.mu.Unlock()
		if more {
			signal(b.wake) // another worker can form the next batch
		}
		return inst, true
	}
}

// idle reports, under IdleDispatch, that no batch of the version runs: no
// company is on its way soon, so a call need not wait for any.
func (b *Batcher) idle() bool {
	return b.cfg.IdleDispatch && b.stats.inflight.Load() == 0
}

// claim takes a free instance for it, the call just queued, when it can run
// at once on its caller's goroutine: nothing else waits, an instance is
// free, and a worker would send it alone without waiting for company.
// Under b.mu.
func (b *Batcher) claim(it *Item) (int, bool) {
	if !b.inline || b.q.n != 1 || len(b.free) == 0 {
		return 0, false
	}
	inst := b.free[len(b.free)-1]
	bt := b.batches[inst]
	ready := b.gather(it, bt) || b.idle()
	if !ready {
		return 0, false
	}
	b.free = b.free[:len(b.free)-1]
	b.take(bt)
	b.workers.Add(1) // Close waits for this run as for a worker's (closed is false here)
	return inst, true
}

// runInline runs the batch claim formed on inst on the caller's goroutine.
func (b *Batcher) runInline(inst int) {
	defer b.workers.Done()
	b.execute(inst, b.batches[inst])
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

// Reading a thread's CPU time costs two system calls, about a microsecond
// on a VM: as much as a small model's whole run. So while runs are short
// (under shortRun of CPU), one batch in cpuStride is measured and counts
// for cpuStride; longer runs are each measured.
const (
	shortRun  = 200 * time.Microsecond
	cpuStride = 8
)

// execute runs bt on inst, answers its callers and frees inst.
func (b *Batcher) execute(inst int, bt *Batch) {
	start := time.Now()
	for _, it := range bt.Items {
		b.stats.observeQueue(start.Sub(it.enqueued))
	}
	b.stats.inflight.Add(int64(len(bt.Items)))
	// Bound to its thread for the run alone (which does not park it), so
	// the thread's CPU time across the run is the batch's.
	goruntime.LockOSThread()
	stride := b.cpuStride.Load()
	measured := stride == 1 || b.cpuTick.Add(1)%uint32(stride) == 0
	var cpu time.Duration
	if measured {
		cpu = threadCPU()
	}
	err := b.runSafely(inst, bt)
	if measured {
		d := threadCPU() - cpu
		b.stats.CPU.Add(int64(stride) * int64(d))
		if d < shortRun {
			b.cpuStride.Store(cpuStride)
		} else {
			b.cpuStride.Store(1)
		}
	}
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
	// The instance goes back to the free list in the same hold of the
	// lock that answered its calls.
	if bt.ctx.Err() != nil { // cancelled: the next batch needs a fresh one
		bt.ctx, bt.stop = context.WithCancel(b.abort)
	}
	b.free = append(b.free, inst)
	wake := b.q.n > 0 || b.closed
	b.mu.Unlock()
	if wake {
		signal(b.wake) // a worker waiting for an instance has one
	}
}
