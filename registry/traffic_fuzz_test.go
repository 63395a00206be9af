package registry

import (
	"math"
	"testing"
)

// FuzzRoutingKey: Traffic.pick never panics and answers Stable or Canary;
// one routing key always picks the same version; weight 0 (or no canary)
// never picks the canary, weight 100 always does; a key on the canary
// stays there as the weight grows. Validate accepts only weights in
// [0, 100].
func FuzzRoutingKey(f *testing.F) {
	f.Add(int64(1), int64(2), 0.0, "user-42")
	f.Add(int64(1), int64(2), 100.0, "user-42")
	f.Add(int64(1), int64(2), 5.0, "user-42")
	f.Add(int64(1), int64(2), 50.0, "")
	f.Add(int64(1), int64(2), 0.01, "a")
	f.Add(int64(1), int64(2), 99.99, "\x00\xff")
	f.Add(int64(3), int64(0), 100.0, "k")
	f.Add(int64(0), int64(0), 0.0, "k")
	f.Add(int64(1), int64(2), -1.0, "k")
	f.Add(int64(1), int64(2), 101.0, "k")
	f.Add(int64(1), int64(1), 50.0, "k")
	f.Add(int64(-1), int64(2), 50.0, "k")
	f.Add(int64(1), int64(2), math.NaN(), "k")
	f.Add(int64(1), int64(2), math.Inf(1), "k")
	f.Fuzz(func(t *testing.T, stable, canary int64, weight float64, key string) {
		tr := Traffic{Stable: stable, Canary: canary, Weight: weight}
		if err := tr.Validate(); err == nil && !(weight >= 0 && weight <= 100) {
			t.Fatalf("Validate accepts %+v, a weight outside 0 to 100", tr)
		}
		v, isCanary := tr.pick(key)
		if isCanary && v != canary || !isCanary && v != stable {
			t.Fatalf("%+v.pick(%q) = %d, %v: version and canary flag disagree", tr, key, v, isCanary)
		}
		if (canary == 0 || weight <= 0) && isCanary {
			t.Fatalf("%+v.pick(%q) picked the canary at weight %v", tr, key, weight)
		}
		if canary != 0 && weight >= 100 && !isCanary {
			t.Fatalf("%+v.pick(%q) missed the canary at weight %v", tr, key, weight)
		}
		if key == "" {
			return // random by weight
		}
		for range 3 {
			if v2, c2 := tr.pick(key); v2 != v || c2 != isCanary {
				t.Fatalf("%+v.pick(%q) = %d then %d", tr, key, v, v2)
			}
		}
		if isCanary {
			for _, w := range []float64{weight + 0.01, weight * 2, 100} {
				if w < weight {
					continue
				}
				grown := tr
				grown.Weight = w
				if _, c := grown.pick(key); !c {
					t.Fatalf("key %q left the canary when the weight grew from %v to %v", key, weight, w)
				}
			}
		}
	})
}
