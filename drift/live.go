package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// Live is one served version's live profile: the sampled calls' values
// counted into the training profile's bins, over a ring of clock-aligned
// slots. The request path (Sample) only adds to the open slot's atomic
// counters; the monitor alone moves the ring on and reads the closed
// slots, so neither side ever waits for the other.
type Live struct {
	prof    *profile.Profile
	hash    string    // of prof: sets binned by another profile never merge
	feats   []feature // the profile's features, then its outputs
	outputs int       // feats[len(feats)-outputs:] are outputs
	input   int       // the profiled input's index among the signature's inputs
	minW    int       // the input's last dimension must exceed every feature's index
	every   int64     // a call in every is sampled
	maxRows int
	size    int // counters per slot: each feature's bins and its missing count

	calls   atomic.Int64 // calls seen, sampled or not
	sampled atomic.Int64 // rows sampled since the profile was made
	cur     atomic.Int64 // the open slot, the one Sample adds to
	ring    []slot       // spec.Slots closed, the open one, and a zeroed spare

	// Moved by the monitor alone, under its lock.
	slotLen  time.Duration
	curStart time.Time // start of the open slot
}

// feature is one profiled feature or output and where its counters sit.
type feature struct {
	profile.Feature
	tensor int     // the output's index among the signature's outputs; unused for input features
	at     int     // its first counter in a slot: bins, then missing
	ref    []int64 // the training counts laid out as a slot's: bins, then missing
}

// slot is one slot's counts. Sums hold float64 bits, added by CAS.
type slot struct {
	counts []atomic.Int64
	sums   []atomic.Uint64
	rows   atomic.Int64
}

var _ registry.Sampler = (*Live)(nil)

// NewLive lays out a live profile of p for a version with signature sig,
// sampled and windowed as spec says, its open slot the one now falls in.
// The error says how the profile does not fit the signature; the version
// is then not monitored.
func NewLive(p *profile.Profile, sig runtime.Signature, spec Spec, now time.Time) (*Live, error) {
	l := &Live{prof: p, hash: profileHash(p), input: -1, every: spec.every(), maxRows: spec.MaxRowsPerCall, slotLen: spec.Slot()}
	if err := l.layoutInput(p, sig); err != nil {
		return nil, err
	}
	if err := l.layoutOutputs(p, sig); err != nil {
		return nil, err
	}
	l.ring = make([]slot, spec.Slots+2)
	for i := range l.ring {
		l.ring[i] = slot{counts: make([]atomic.Int64, l.size), sums: make([]atomic.Uint64, len(l.feats))}
	}
	l.curStart = now.Truncate(l.slotLen)
	return l, nil
}

func (l *Live) layoutInput(p *profile.Profile, sig runtime.Signature) error {
	if len(p.Features) == 0 {
		return nil
	}
	for i, in := range sig.Inputs {
		if in.Name == p.Input {
			l.input = i
		}
	}
	if l.input < 0 {
		return fmt.Errorf("the profile's input %q is not among the model's inputs, expected one of %v", p.Input, ioNames(sig.Inputs))
	}
	in := sig.Inputs[l.input]
	if !numeric(in.DataType) {
		return fmt.Errorf("input %q is %s, expected a numeric type to profile", in.Name, in.DataType)
	}
	for _, f := range p.Features {
		l.minW = max(l.minW, f.Index+1)
		l.add(f, 0)
	}
	if n := len(in.Dims); n == 0 || (in.Dims[n-1] >= 0 && in.Dims[n-1] < int64(l.minW)) {
		return fmt.Errorf("input %q has dims %v, expected a last dimension of at least %d, the profile's features", in.Name, in.Dims, l.minW)
	}
	return nil
}

func (l *Live) layoutOutputs(p *profile.Profile, sig runtime.Signature) error {
	for _, f := range p.Outputs {
		k := -1
		for i, out := range sig.Outputs {
			if out.Name == f.Name {
				k = i
			}
		}
		if k < 0 {
			return fmt.Errorf("the profile's output %q is not among the model's outputs, expected one of %v", f.Name, ioNames(sig.Outputs))
		}
		if out := sig.Outputs[k]; !numeric(out.DataType) {
			return fmt.Errorf("output %q is %s, expected a numeric type to profile", out.Name, out.DataType)
		}
		l.add(f, k)
		l.outputs++
	}
	return nil
}

func (l *Live) add(f profile.Feature, tensorIndex int) {
	ref := append(slices.Clip(f.Counts), f.Missing)
	l.feats = append(l.feats, feature{Feature: f, tensor: tensorIndex, at: l.size, ref: ref})
	l.size += len(f.Edges) + 2
}

// ioNames are the names of a signature's inputs or outputs, for errors.
func ioNames(ios []runtime.IO) []string {
	names := make([]string, len(ios))
	for i, io := range ios {
		names[i] = io.Name
	}
	return names
}

func numeric(dt tensor.DataType) bool {
	return dt.Valid() && dt != tensor.Bytes
}

// profileHash names a profile's bins: two lives bin alike when it is equal.
func profileHash(p *profile.Profile) string {
	b, _ := json.Marshal(p) // numbers and strings from a decoded card: it encodes
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// Sample counts one call's rows, at most max_rows_per_call of them, when
// the call is one in every the sample rate asks for. Every feature and
// output it reads is counted over the same rows, and the window's rows
// grow only when something was counted. It neither locks nor allocates,
// and reads the tensors only before it returns.
func (l *Live) Sample(inputs, outputs []tensor.Tensor) {
	if l.every > 1 && l.calls.Add(1)%l.every != 0 {
		return
	}
	in := l.inputFeatures()
	rows, read := l.maxRows, len(in) > 0
	var t *tensor.Tensor
	var width int
	if read {
		var n int
		if t, width, n = l.readInput(inputs); t == nil {
			return
		}
		rows = min(rows, n)
	}
	for k := len(in); k < len(l.feats); k++ {
		if _, _, n := l.readOutput(&l.feats[k], outputs); n >= 0 {
			rows, read = min(rows, n), true
		}
	}
	if !read || rows <= 0 {
		return
	}
	s := &l.ring[l.cur.Load()]
	for k := range in {
		l.count(s, &in[k], k, t, width, rows)
	}
	for k := len(in); k < len(l.feats); k++ {
		if o, ow, n := l.readOutput(&l.feats[k], outputs); n >= 0 {
			l.count(s, &l.feats[k], k, o, ow, rows)
		}
	}
	s.rows.Add(int64(rows))
	l.sampled.Add(int64(rows))
}

// readInput is the profiled input as rows: the tensor, its width (the
// last dimension) and its rows; nil when the call's input cannot be read
// as the profile lays it out.
func (l *Live) readInput(inputs []tensor.Tensor) (t *tensor.Tensor, width, rows int) {
	if l.input >= len(inputs) {
		return nil, 0, 0
	}
	t = &inputs[l.input]
	if n := len(t.Shape); n > 0 {
		width = int(t.Shape[n-1])
	}
	if width < l.minW || !numeric(t.DataType) {
		return nil, 0, 0
	}
	return t, width, len(t.Data) / t.DataType.Size() / width
}

// readOutput is output f's tensor as rows, its width and its rows; rows
// -1 when the call has no such output or its rows are too narrow to hold
// f's element.
func (l *Live) readOutput(f *feature, outputs []tensor.Tensor) (t *tensor.Tensor, width, rows int) {
	if f.tensor >= len(outputs) {
		return nil, 0, -1
	}
	t = &outputs[f.tensor]
	if width, rows = outputRows(t); width <= f.Index {
		return nil, 0, -1
	}
	return t, width, rows
}

// outputRows reads an output as rows along its first dimension: the
// elements in a row (its last dimension; 1 for a vector) and the rows.
func outputRows(t *tensor.Tensor) (width, rows int) {
	width = 1
	if n := len(t.Shape); n > 1 {
		width = int(t.Shape[n-1])
	}
	if width <= 0 || !numeric(t.DataType) {
		return 0, 0
	}
	return width, len(t.Data) / t.DataType.Size() / width
}

func (l *Live) inputFeatures() []feature { return l.feats[:len(l.feats)-l.outputs] }

// count adds the first rows rows of f's column of t (width elements a row)
// to slot s. A value Bin calls missing (NaN, an infinity) counts as
// missing, as it did in training, and stays outside the sum.
func (l *Live) count(s *slot, f *feature, k int, t *tensor.Tensor, width, rows int) {
	size := t.DataType.Size()
	missing := f.at + len(f.Edges) + 1
	var sum float64
	for r := range rows {
		x := tensor.Element(t.DataType, t.Data[(r*width+f.Index)*size:])
		b, ok := f.Bin(x)
		if !ok {
			s.counts[missing].Add(1)
			continue
		}
		s.counts[f.at+b].Add(1)
		sum += x
	}
	addFloat(&s.sums[k], sum)
}

// addFloat adds x to the float64 whose bits a holds.
func addFloat(a *atomic.Uint64, x float64) {
	if x == 0 {
		return
	}
	for {
		old := a.Load()
		if a.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+x)) {
			return
		}
	}
}

// rotate moves the ring on to the slot now falls in: each step opens the
// spare slot, which was zeroed a step earlier, and zeroes the next one.
// A writer that read the old open slot a moment before adds to the newest
// closed slot instead, which the window counts. Monitor only.
func (l *Live) rotate(now time.Time) {
	start := now.Truncate(l.slotLen)
	if !start.After(l.curStart) {
		return
	}
	steps := min(int64(start.Sub(l.curStart)/l.slotLen), int64(len(l.ring)))
	n := int64(len(l.ring))
	for range steps {
		next := (l.cur.Load() + 1) % n
		l.cur.Store(next)
		l.ring[(next+1)%n].zero()
	}
	l.curStart = start
}

func (s *slot) zero() {
	for i := range s.counts {
		s.counts[i].Store(0)
	}
	for i := range s.sums {
		s.sums[i].Store(0)
	}
	s.rows.Store(0)
}

// window sums the closed slots: every slot but the open one and the
// spare after it. Monitor only.
func (l *Live) window() WindowSet {
	w := WindowSet{Profile: l.hash, Slot: l.curStart.Unix(), Counts: make([]int64, l.size), Sums: make([]float64, len(l.feats))}
	n := int64(len(l.ring))
	cur := l.cur.Load()
	for i := range n {
		if i == cur || i == (cur+1)%n {
			continue
		}
		s := &l.ring[i]
		w.Rows += s.rows.Load()
		for j := range s.counts {
			w.Counts[j] += s.counts[j].Load()
		}
		for j := range s.sums {
			w.Sums[j] += math.Float64frombits(s.sums[j].Load())
		}
	}
	return w
}

// Sampled is how many rows the live profile has sampled since it was made.
func (l *Live) Sampled() int64 { return l.sampled.Load() }
