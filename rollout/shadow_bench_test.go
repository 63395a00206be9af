package rollout_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/rollout"
)

// BenchmarkShadowP99 shows that shadow copies do not delay primary calls:
// stable-routed calls at 8 concurrent callers, with shadowing off and with
// every call copied to the canary.
func BenchmarkShadowP99(b *testing.B) {
	for _, frac := range []float64{0, 0.1, 1} {
		b.Run(fmt.Sprintf("shadow=%v", frac), func(b *testing.B) {
			r, c := gateway(b, studentRepo(b, "", ""))
			sp := spec(func(s *rollout.Spec) { s.Steps, s.ShadowFraction = []float64{1, 100}, frac })
			if _, err := c.Start(context.Background(), "student", sp, 2); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			var lat []time.Duration
			b.ResetTimer()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for i := 0; pb.Next(); i++ {
					t := time.Now()
					// Keys past the 1 % canary bucket range stay on stable.
					if _, err := r.Infer(context.Background(), "student", "", fmt.Sprintf("k%d", 1000+i%5000), studentCall(0.5)); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
