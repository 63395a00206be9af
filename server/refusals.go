package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// refusals counts the calls the front door turns away before they reach a
// model's queue (a full queue is counted per version by
// sluice_requests_rejected_total), so that an operator sees which limit
// bites.
type refusals struct {
	vec                                          *prometheus.CounterVec
	connections, bodyBytes, unauth, denied, rate prometheus.Counter
}

func newRefusals() *refusals {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_http_refused_total",
		Help: "Requests the front door refused before a model's queue, by reason: connections (server.max_connections), body_bytes (server.max_body_bytes_in_flight), unauthenticated, forbidden, rate_limited."},
		[]string{"reason"})
	return &refusals{vec: vec, connections: vec.WithLabelValues("connections"), bodyBytes: vec.WithLabelValues("body_bytes"),
		unauth: vec.WithLabelValues("unauthenticated"), denied: vec.WithLabelValues("forbidden"), rate: vec.WithLabelValues("rate_limited")}
}

// access counts a refusal of checkAccess by the status it answered; nil
// (a server built in process without New) counts nothing.
func (r *refusals) access(status int) {
	if r == nil {
		return
	}
	switch status {
	case fasthttp.StatusUnauthorized:
		r.unauth.Inc()
	case fasthttp.StatusForbidden:
		r.denied.Inc()
	case fasthttp.StatusTooManyRequests:
		r.rate.Inc()
	}
}

// Collectors are the server's own metrics, for the process's registry.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.refused.vec}
}
