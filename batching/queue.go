package batching

import "time"

// levels holds one FIFO per priority level as intrusive doubly linked
// lists, so an expiring call leaves from the middle in O(1) without
// allocating. Guarded by the Batcher's mutex.
type levels struct {
	head, tail []*Item
	n          int
}

func newLevels(k int) levels {
	return levels{head: make([]*Item, k), tail: make([]*Item, k)}
}

func (q *levels) push(it *Item) {
	p := it.prio
	it.prev, it.next = q.tail[p], nil
	if q.tail[p] != nil {
		q.tail[p].next = it
	} else {
		q.head[p] = it
	}
	q.tail[p] = it
	q.n++
}

func (q *levels) remove(it *Item) {
	p := it.prio
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		q.head[p] = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		q.tail[p] = it.prev
	}
	it.prev, it.next = nil, nil
	q.n--
}

// first is the call to serve next: the head of the highest non-empty
// level, unless a lower level's head has waited past maxWait, in which
// case the longest-starved head goes first.
func (q *levels) first(now time.Time, maxWait time.Duration) *Item {
	var best, starved *Item
	for p := range q.head {
		h := q.head[p]
		if h == nil {
			continue
		}
		if best == nil {
			best = h
			continue
		}
		if now.Sub(h.enqueued) >= maxWait && (starved == nil || h.enqueued.Before(starved.enqueued)) {
			starved = h
		}
	}
	if starved != nil && now.Sub(best.enqueued) < now.Sub(starved.enqueued) {
		return starved
	}
	return best
}

// each walks the calls from `from` in serving order: the rest of its level,
// then the levels below, then the levels above.
func (q *levels) each(from *Item, fn func(*Item) bool) {
	for it := from; it != nil; it = it.next {
		if !fn(it) {
			return
		}
	}
	for d := 1; d < len(q.head); d++ {
		p := (from.prio + d) % len(q.head)
		for it := q.head[p]; it != nil; it = it.next {
			if !fn(it) {
				return
			}
		}
	}
}

// deadlines is a min-heap of queued and running calls by deadline, so one
// timer expires every call on time.
type deadlines []*Item

func (h *deadlines) push(it *Item) {
	it.heapIdx = len(*h)
	*h = append(*h, it)
	h.up(it.heapIdx)
}

func (h *deadlines) remove(it *Item) {
	i := it.heapIdx
	if i < 0 {
		return
	}
	last := len(*h) - 1
	h.swap(i, last)
	(*h)[last] = nil
	*h = (*h)[:last]
	it.heapIdx = -1
	if i < last {
		h.down(i)
		h.up(i)
	}
}

func (h deadlines) peek() *Item {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

func (h deadlines) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}

func (h deadlines) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].deadline.Before(h[p].deadline) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h deadlines) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(h) && h[l].deadline.Before(h[small].deadline) {
			small = l
		}
		if r := l + 1; r < len(h) && h[r].deadline.Before(h[small].deadline) {
			small = r
		}
		if small == i {
			return
		}
		h.swap(i, small)
		i = small
	}
}
