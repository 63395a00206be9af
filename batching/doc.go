// Package batching coalesces concurrent inference calls for one model
// version into batches and dispatches them onto that version's instances.
//
// It knows nothing of ONNX: a Batcher is given a RunFunc, which its workers
// (one per instance) call with each batch they form. A batch forms when an
// instance is free: the queue's head and the calls behind it that share its
// shape key (no padding), up to MaxBatchSize rows, cut at the largest
// preferred size on hand, after waiting at most MaxQueueDelay for more. A
// call that finds nothing queued and an instance free runs at once on its
// caller's goroutine: the hand-off to a worker and back would cost a small
// model more than its run.
//
// Invariants: the queue is bounded and a full queue answers at once
// (ErrRejected wrapping ErrQueueFull); a queued call whose deadline passes
// leaves the queue at that moment, by the batcher's own timer, and is never
// run (ErrExpired wrapping ErrDeadline); when every call of a running batch
// is gone its context is cancelled; a run that panics fails its own batch's
// calls and no others (ErrFailed wrapping ErrPanic), is logged with its stack
// and counted, and its worker goes on to the next batch; Close stops
// admission and drains what is queued. One mutex guards the queue; each
// goroutine has the Batcher as its owner, which Close stops and waits for.
package batching
