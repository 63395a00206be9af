package drift

import (
	"math"
	"slices"
	"time"
)

// merge adds to this replica's window the other replicas' windows of the
// same version, binned by the same profile, that end within a slot of
// it; the count is of the replicas merged, itself included.
func (m *Monitor) merge(k string, own WindowSet, slot time.Duration) (WindowSet, int) {
	if m.fleet == nil {
		return own, 1
	}
	tol := max(int64(slot/time.Second), 1)
	merged := WindowSet{Profile: own.Profile, Slot: own.Slot, Rows: own.Rows, Counts: slices.Clone(own.Counts), Sums: slices.Clone(own.Sums)}
	n := 1
	for _, s := range m.fleet.DriftWindows(k) {
		if !mergeable(own, s, tol) {
			continue
		}
		merged.Rows += s.Rows
		for i, c := range s.Counts {
			merged.Counts[i] += c
		}
		for i, x := range s.Sums {
			merged.Sums[i] += x
		}
		n++
	}
	return merged, n
}

// mergeable reports whether s can be added to own: same profile, same
// layout, a slot within tol seconds, and counts that make sense.
func mergeable(own, s WindowSet, tol int64) bool {
	if s.Profile != own.Profile || len(s.Counts) != len(own.Counts) || len(s.Sums) != len(own.Sums) || s.Rows < 0 {
		return false
	}
	if d := s.Slot - own.Slot; d > tol || d < -tol {
		return false
	}
	for _, c := range s.Counts {
		if c < 0 {
			return false
		}
	}
	for _, x := range s.Sums {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
