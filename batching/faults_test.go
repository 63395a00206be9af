package batching

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// A call whose caller goes away while it waits behind a busy instance
// leaves the queue at once, with ErrCancelled, and never runs.
func TestCancelledCallLeavesTheQueueAndNeverRuns(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	b := newBatcher(t, DefaultConfig(), r)
	first := submitAsync(b, item(1, 1), 0)
	<-r.started // the only instance is busy
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { gone <- b.Submit(ctx, item(2, 1), 0, 0) }()
	waitQueued(t, b, 1)
	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, ErrCancelled) {
			t.Errorf("cancelled call: %v, want ErrCancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled call stayed queued")
	}
	waitQueued(t, b, 0)
	close(r.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(context.Background(), item(3, 1), 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, batch := range r.got() {
		if slices.Contains(batch, 2) {
			t.Errorf("the cancelled call ran: batches %v", r.got())
		}
	}
}
