package registry

import (
	"fmt"
	"math/rand/v2"

	"github.com/cespare/xxhash/v2"
)

// Traffic is how a model's unversioned calls split between a stable and a
// canary version. With Stable 0 they go to the highest serving version.
type Traffic struct {
	Stable int64 `json:"stable,omitempty"`
	Canary int64 `json:"canary,omitempty"`
	// Weight is the canary's share of unversioned calls, in percent.
	Weight float64 `json:"canary_weight,omitempty"`
}

// buckets is the resolution of a weight: a routing key hashes into one of
// 10,000 buckets, and buckets below weight×100 go to the canary, so a key
// keeps its version while the weight only grows.
const buckets = 10000

// Validate names the field that is wrong.
func (t Traffic) Validate() error {
	switch {
	case t.Stable < 0 || t.Canary < 0:
		return fmt.Errorf("traffic: versions must be positive, got stable %d canary %d", t.Stable, t.Canary)
	case !(t.Weight >= 0 && t.Weight <= 100): // false for NaN too
		return fmt.Errorf("traffic.canary_weight: %v, expected 0 to 100 (percent)", t.Weight)
	case t.Canary != 0 && t.Stable == 0:
		return fmt.Errorf("traffic.canary: %d given without traffic.stable", t.Canary)
	case t.Canary != 0 && t.Canary == t.Stable:
		return fmt.Errorf("traffic.canary: %d is also the stable version", t.Canary)
	}
	return nil
}

// split reports whether the policy names versions at all.
func (t Traffic) split() bool { return t.Stable != 0 }

// pick chooses the version for one call: by its routing key when it has
// one, at random by weight when it has none.
func (t Traffic) pick(key string) (v int64, canary bool) {
	if t.Canary == 0 || t.Weight <= 0 {
		return t.Stable, false
	}
	var b uint64
	if key != "" {
		b = xxhash.Sum64String(key) % buckets
	} else {
		b = rand.Uint64N(buckets)
	}
	if float64(b) < t.Weight*buckets/100 {
		return t.Canary, true
	}
	return t.Stable, false
}

// pins are the versions the policy must keep loaded whatever the
// version_policy says.
func (t Traffic) pins() []int64 {
	var out []int64
	for _, v := range []int64{t.Stable, t.Canary} {
		if v != 0 {
			out = append(out, v)
		}
	}
	return out
}
