package v2

// arena hands out consecutive slices of one reused block, so a pooled Call
// decodes its shapes and JSON data without allocating once it has seen a
// call of the same size. A slice that outgrows the block moves to a block
// of its own (append's doing), which then serves what follows; slices
// handed out earlier keep the block they were cut from.
type arena[T any] struct {
	block []T // the block being cut, from its start
	free  []T // its unused tail
	used  int // elements handed out since the last reset
	peak  int // most elements handed out between two resets, capped
}

// start returns an empty slice to append to, with room for n elements
// when n is known (0 when not).
func (a *arena[T]) start(n int) []T {
	if cap(a.free) < n {
		a.block = make([]T, 0, max(n, a.peak-a.used))
		a.free = a.block
	}
	return a.free[:0]
}

// done takes s, the slice start returned after appending to it, out of
// the free space and returns it with its capacity clipped, so appending to
// it cannot run into what is handed out next.
func (a *arena[T]) done(s []T) []T {
	if cap(s) != cap(a.free) {
		a.block = s[:0] // append moved s to a new, larger block
	}
	a.free = s[len(s):]
	a.used += len(s)
	return s[:len(s):len(s)]
}

// reset makes the whole block free again. A block smaller than the
// busiest call so far is dropped so that the next start allocates one
// that holds a whole call; limit caps what a pooled Call keeps.
func (a *arena[T]) reset(limit int) {
	a.peak = min(max(a.peak, a.used), limit)
	a.used = 0
	if cap(a.block) < a.peak || cap(a.block) > limit {
		a.block = nil
	}
	a.free = a.block[:0]
}
