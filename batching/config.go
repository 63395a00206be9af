package batching

import (
	"fmt"
	"slices"
	"time"
)

// Config is one model version's batching, named as in Triton's dynamic
// batcher where Triton has a name.
type Config struct {
	// MaxBatchSize is the most rows one batch holds; 0 runs every call alone.
	MaxBatchSize int
	// PreferredBatchSizes are sizes dispatched at once when reachable.
	PreferredBatchSizes []int
	// MaxQueueDelay is how long a batch may wait for more calls.
	MaxQueueDelay time.Duration
	// IdleDispatch lets a batch wait for more calls only while another of
	// the version's batches runs: a call that finds every instance idle
	// runs at once. Where batching pays (a model reading much more weight
	// than it computes on one row), the delay then buys batches under load
	// and costs nothing to a lone caller; off, the delay applies to every
	// batch, as Triton's max_queue_delay_microseconds does.
	IdleDispatch bool
	// MaxQueueSize bounds the calls waiting; beyond it calls are rejected.
	MaxQueueSize int
	// DefaultTimeout bounds a call from arrival to answer; 0 means none
	// beyond the caller's own deadline.
	DefaultTimeout time.Duration
	// PriorityLevels is the number of priorities; level 1 is served first,
	// as in Triton.
	PriorityLevels int
	// DefaultPriority is the level of calls that name none.
	DefaultPriority int
	// MaxPriorityWait bounds starvation: a call waiting this long is served
	// before higher-priority calls that arrived later.
	MaxPriorityWait time.Duration
	// Instances is the number of batches that run at once.
	Instances int
	// WorkerNice is the scheduling niceness (1 to 19) of the threads the
	// instances' batches run on; 0 leaves them as the server's. Where
	// inference saturates the CPU, a nicer inference thread gives way to
	// the front door's at once, so refusals, probes and the reading of
	// calls are not held behind a batch.
	WorkerNice int
}

// DefaultConfig runs calls alone, on one instance, with a finite queue.
func DefaultConfig() Config {
	return Config{
		MaxQueueSize:    1024,
		PriorityLevels:  1,
		DefaultPriority: 1,
		MaxPriorityWait: 100 * time.Millisecond,
		Instances:       1,
	}
}

// Validate names the first field that is wrong, by its config.yaml key.
func (c Config) Validate() error {
	switch {
	case c.MaxBatchSize < 0 || c.MaxBatchSize > 1<<16:
		return fmt.Errorf("max_batch_size: %d, expected 0 (no batching) to 65536", c.MaxBatchSize)
	case c.MaxQueueSize < 1:
		return fmt.Errorf("max_queue_size: %d, expected at least 1", c.MaxQueueSize)
	case c.MaxQueueDelay < 0:
		return fmt.Errorf("max_queue_delay: %v, expected 0 or more", c.MaxQueueDelay)
	case c.DefaultTimeout < 0:
		return fmt.Errorf("default_timeout: %v, expected 0 (none) or more", c.DefaultTimeout)
	case c.PriorityLevels < 1 || c.PriorityLevels > 16:
		return fmt.Errorf("priority_levels: %d, expected 1 to 16", c.PriorityLevels)
	case c.DefaultPriority < 1 || c.DefaultPriority > c.PriorityLevels:
		return fmt.Errorf("default_priority: %d, expected 1 to priority_levels (%d)", c.DefaultPriority, c.PriorityLevels)
	case c.MaxPriorityWait <= 0:
		return fmt.Errorf("max_priority_wait: %v, expected a positive duration", c.MaxPriorityWait)
	case c.Instances < 1:
		return fmt.Errorf("instances: %d, expected at least 1", c.Instances)
	case c.WorkerNice < 0 || c.WorkerNice > 19:
		return fmt.Errorf("worker_nice: %d, expected 0 (as the server) to 19", c.WorkerNice)
	}
	for i, p := range c.PreferredBatchSizes {
		if p < 1 || p > max(c.MaxBatchSize, 1) {
			return fmt.Errorf("preferred_batch_sizes[%d]: %d, expected 1 to max_batch_size (%d)", i, p, c.MaxBatchSize)
		}
	}
	if len(c.PreferredBatchSizes) > 0 && c.MaxBatchSize == 0 {
		return fmt.Errorf("preferred_batch_sizes: set but max_batch_size is 0 (no batching)")
	}
	return nil
}

// sortedPreferred returns the preferred sizes, largest first.
func (c Config) sortedPreferred() []int {
	p := slices.Clone(c.PreferredBatchSizes)
	slices.Sort(p)
	slices.Reverse(p)
	return p
}
