package server

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestRefusalsCountEachAccessRefusalByReason(t *testing.T) {
	r := newRefusals()
	for _, status := range []int{401, 401, 403, 429, 429, 429, 500} {
		r.access(status)
	}
	for reason, want := range map[string]float64{"unauthenticated": 2, "forbidden": 1, "rate_limited": 3, "connections": 0, "body_bytes": 0} {
		var m dto.Metric
		if err := r.vec.WithLabelValues(reason).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != want {
			t.Errorf("%s: %v, want %v", reason, got, want)
		}
	}
	var none *refusals
	none.access(401) // a server built without New counts nothing, and does not panic
}
