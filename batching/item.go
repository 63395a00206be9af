package batching

import (
	"context"
	"time"

	"github.com/sluice-serving/sluice/tensor"
)

// Item is one call in the batcher. Callers fill Inputs, Rows and Key, and
// may reuse an Item once Submit has returned and they are done with Outputs.
type Item struct {
	// Inputs are the call's tensors, in the model's input order.
	Inputs []tensor.Tensor
	// Rows is the call's size along dimension 0 (1 for unbatched models).
	Rows int
	// Key groups calls that can share a batch: equal non-batch dimensions.
	Key uint64
	// Outputs are set by the RunFunc, one slice of the batch's outputs per
	// output, in the model's output order.
	Outputs []tensor.Tensor

	// Fields below are guarded by the Batcher's mutex.
	state      itemState
	prio       int       // 0-based level, 0 served first
	enqueued   time.Time // when Submit queued it
	deadline   time.Time // zero: none
	prev, next *Item     // links in its priority level's queue
	heapIdx    int       // position in the deadline heap, -1 when absent
	batch      *Batch    // the batch it runs in, while running
	err        error
	done       chan struct{} // one send when the caller may return
}

type itemState uint8

const (
	stateIdle    itemState = iota
	stateQueued            // waiting in a queue
	stateCopying           // in a batch whose inputs are still being read
	stateRunning           // in a batch whose inputs are copied
	stateLeaving           // deadline passed while its inputs were read
	stateDone              // its caller has been let go
)

// Batch is what a RunFunc runs: calls of equal Key, in queue order.
type Batch struct {
	Items []*Item
	// Rows is the sum of the items' Rows.
	Rows int
	// InputTime, InferTime and OutputTime are set by the RunFunc: copying
	// inputs in, running, slicing outputs back. They feed the statistics.
	InputTime, InferTime, OutputTime time.Duration

	b     *Batcher
	live  int // items whose callers still wait; guarded by b.mu
	ctx   context.Context
	stop  context.CancelFunc
	freed bool // inputs copied; guarded by b.mu
}

// InputsCopied tells the batcher that the run no longer reads the items'
// input memory, so callers whose deadline passes may return at once. A
// RunFunc that never calls it keeps expired callers until the run ends.
func (bt *Batch) InputsCopied() {
	b := bt.b
	b.mu.Lock()
	defer b.mu.Unlock()
	bt.freed = true
	for _, it := range bt.Items {
		switch it.state {
		case stateCopying:
			it.state = stateRunning
		case stateLeaving:
			b.release(it) // its deadline passed while its inputs were read
		}
	}
}

// RunFunc runs one batch on instance (0 to Instances-1), filling each
// item's Outputs. An error fails every call of this batch and no other.
type RunFunc func(ctx context.Context, instance int, batch *Batch) error
