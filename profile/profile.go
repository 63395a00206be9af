// Package profile describes a distribution compactly enough to travel in
// a model card and to be kept live for every served version: per feature,
// counts over fixed bins, a mean and a missing count. The pipeline writes
// the training data's profile; the server fills the same bins from live
// calls; PSI and KS say how far apart the two are.
package profile

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Kinds of feature.
const (
	Numeric = "numeric" // an input feature, binned at the training data's quantiles
	Score   = "score"   // a model output read as a number (a probability), fixed bins
	Class   = "class"   // a model output that is a class index, one bin per class
)

// DefaultBins is how many quantile bins a numeric feature gets.
const DefaultBins = 20

// Profile is one model version's reference distribution: the features laid
// out along the last dimension of one input tensor, and the outputs.
type Profile struct {
	Input    string    `json:"input"` // the input whose last dimension holds Features, in Index order
	Rows     int64     `json:"rows"`  // training rows the input features were counted over
	Features []Feature `json:"features"`
	Outputs  []Feature `json:"outputs"` // Name is the output's; Index its element within a row
}

// Feature is one binned distribution. Bin i holds the values x with
// Edges[i-1] < x <= Edges[i]; the last bin holds x > Edges[len(Edges)-1].
type Feature struct {
	Name    string    `json:"name"`
	Index   int       `json:"index"`
	Kind    string    `json:"kind"`
	Edges   []float64 `json:"edges"`
	Counts  []int64   `json:"counts"` // len(Edges)+1
	Missing int64     `json:"missing"`
	Mean    float64   `json:"mean"` // over the values that are not missing
	Rows    int64     `json:"rows"` // values counted, missing ones included
}

// NumericFeature bins col at its quantiles into at most bins bins (fewer
// when values repeat: a 0/1 flag gets two). NaN and ±Inf count as missing.
func NumericFeature(name string, index int, col []float64, bins int) Feature {
	bins = max(bins, 1)
	sorted := make([]float64, 0, len(col))
	for _, x := range col {
		if !missing(x) {
			sorted = append(sorted, x)
		}
	}
	slices.Sort(sorted)
	var edges []float64
	if len(sorted) > 0 {
		for i := 1; i <= bins; i++ {
			// The bins' upper quantiles; the largest value closes the last
			// one, so a value above everything seen falls in the bin past it.
			e := sorted[min(len(sorted)-1, int(math.Ceil(float64(i)*float64(len(sorted))/float64(bins)))-1)]
			if len(edges) == 0 || e > edges[len(edges)-1] {
				edges = append(edges, e)
			}
		}
	}
	return FixedFeature(name, index, Numeric, col, edges)
}

// ClassFeature counts class indices 0..classes-1, one bin each (a value
// outside them falls in the bin past the last).
func ClassFeature(name string, index int, col []float64, classes int) Feature {
	edges := make([]float64, classes)
	for i := range edges {
		edges[i] = float64(i) + 0.5
	}
	return FixedFeature(name, index, Class, col, edges)
}

// FixedFeature counts col over the given edges (ascending).
func FixedFeature(name string, index int, kind string, col []float64, edges []float64) Feature {
	f := Feature{Name: name, Index: index, Kind: kind, Edges: slices.Clone(edges), Counts: make([]int64, len(edges)+1)}
	var sum float64
	for _, x := range col {
		b, ok := f.Bin(x)
		f.Rows++
		if !ok {
			f.Missing++
			continue
		}
		f.Counts[b]++
		sum += x
	}
	if n := f.Rows - f.Missing; n > 0 {
		f.Mean = sum / float64(n)
	}
	return f
}

// Bin is the bin x falls in; false for a missing value: NaN, or an
// infinity, which no bin's share or mean can hold (a +Inf in the mean
// would make the card unencodable as JSON). Training and live data go
// through it alike. It neither allocates nor locks: the request path
// calls it for every sampled value.
func (f *Feature) Bin(x float64) (int, bool) {
	if missing(x) {
		return 0, false
	}
	// A linear scan: a few dozen edges at most, and the common case of
	// few edges beats a binary search's branches.
	for i, e := range f.Edges {
		if x <= e {
			return i, true
		}
	}
	return len(f.Edges), true
}

// missing reports whether x is a missing value rather than a measurement.
func missing(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }

// floor keeps an empty bin from making PSI infinite: a share is never
// taken as less than this.
const floor = 1e-4

// PSI is the population stability index of live against ref (counts over
// the same bins): Σ (live share − ref share) · ln(live share / ref share).
// 0 when either is empty.
func PSI(ref, live []int64) float64 {
	rn, ln := total(ref), total(live)
	if rn == 0 || ln == 0 || len(ref) != len(live) {
		return 0
	}
	var psi float64
	for i := range ref {
		r := max(float64(ref[i])/rn, floor)
		l := max(float64(live[i])/ln, floor)
		psi += (l - r) * math.Log(l/r)
	}
	return psi
}

// KS is the Kolmogorov–Smirnov distance between the two binned
// distributions: the largest gap between their cumulative shares at the
// bin edges. For a continuous feature it is a lower bound of the distance
// between the raw samples, exact at the edges; for a class it is exact.
func KS(ref, live []int64) float64 {
	rn, ln := total(ref), total(live)
	if rn == 0 || ln == 0 || len(ref) != len(live) {
		return 0
	}
	var rc, lc, d float64
	for i := range ref {
		rc += float64(ref[i]) / rn
		lc += float64(live[i]) / ln
		d = max(d, math.Abs(rc-lc))
	}
	return d
}

func total(c []int64) float64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return float64(n)
}

// Bounds of a profile read from a card: a live profile keeps (slots+2)
// counters per bin of every feature and output, and the metrics export a
// series per feature, so a card must not be able to ask for unbounded
// memory or series.
const (
	maxFeatures = 1024
	maxOutputs  = 64
	maxEdges    = 256
)

// Check says what is wrong with a profile read from a card, if anything.
// Feature names, and outputs' (name, index) pairs, must be unique: each is
// one metric series, and a duplicate series fails the whole scrape.
func (p *Profile) Check() error {
	switch {
	case p.Input == "" && len(p.Features) > 0:
		return fmt.Errorf("profile: %d features and an empty input name, expected the name of the input that holds them", len(p.Features))
	case len(p.Features) > maxFeatures:
		return fmt.Errorf("profile: %d features, expected at most %d", len(p.Features), maxFeatures)
	case len(p.Outputs) > maxOutputs:
		return fmt.Errorf("profile: %d outputs, expected at most %d", len(p.Outputs), maxOutputs)
	}
	indexes, names := map[int]string{}, map[string]bool{}
	for i := range p.Features {
		f := &p.Features[i]
		if err := f.check(); err != nil {
			return fmt.Errorf("profile: feature %d: %w", i, err)
		}
		if names[f.Name] {
			return fmt.Errorf("profile: feature %d: name %q is taken by an earlier feature, expected unique names", i, f.Name)
		}
		if other, ok := indexes[f.Index]; ok {
			return fmt.Errorf("profile: feature %q: index %d is taken by feature %q, expected a column of its own", f.Name, f.Index, other)
		}
		names[f.Name], indexes[f.Index] = true, f.Name
	}
	type element struct {
		name  string
		index int
	}
	outputs := map[element]bool{}
	for i := range p.Outputs {
		f := &p.Outputs[i]
		if err := f.check(); err != nil {
			return fmt.Errorf("profile: output %d: %w", i, err)
		}
		e := element{f.Name, f.Index}
		if outputs[e] {
			return fmt.Errorf("profile: output %d: %q at index %d is profiled twice, expected each output element once", i, f.Name, f.Index)
		}
		outputs[e] = true
	}
	return nil
}

func (f *Feature) check() error {
	switch {
	case f.Name == "":
		return fmt.Errorf("name is empty, expected the feature's or output's name")
	case f.Kind != Numeric && f.Kind != Score && f.Kind != Class:
		return fmt.Errorf("%q: kind %q, expected %s, %s or %s", f.Name, f.Kind, Numeric, Score, Class)
	case len(f.Counts) != len(f.Edges)+1:
		return fmt.Errorf("%q: %d counts for %d edges, expected one more count than edges", f.Name, len(f.Counts), len(f.Edges))
	case len(f.Edges) > maxEdges:
		return fmt.Errorf("%q: %d edges, expected at most %d", f.Name, len(f.Edges), maxEdges)
	case f.Index < 0:
		return fmt.Errorf("%q: index %d, expected 0 or more", f.Name, f.Index)
	case f.Missing < 0:
		return fmt.Errorf("%q: missing count %d, expected 0 or more", f.Name, f.Missing)
	}
	for i := 1; i < len(f.Edges); i++ {
		if !(f.Edges[i] > f.Edges[i-1]) {
			return fmt.Errorf("%q: edges not ascending at %d (%v after %v)", f.Name, i, f.Edges[i], f.Edges[i-1])
		}
	}
	for i, c := range f.Counts {
		if c < 0 {
			return fmt.Errorf("%q: count %d of bin %d, expected 0 or more", f.Name, c, i)
		}
	}
	return nil
}

// FromCard reads the "profile" of a model card (model_card.json); nil and
// no error when the card has none.
func FromCard(card []byte) (*Profile, error) {
	if len(card) == 0 {
		return nil, nil
	}
	var c struct {
		Profile *Profile `json:"profile"`
	}
	if err := json.Unmarshal(card, &c); err != nil {
		return nil, fmt.Errorf("model card: %w", err)
	}
	if c.Profile == nil {
		return nil, nil
	}
	if err := c.Profile.Check(); err != nil {
		return nil, fmt.Errorf("model card: %w", err)
	}
	return c.Profile, nil
}
