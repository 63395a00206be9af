package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/sluice-serving/sluice/autoscale"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/tensor"
)

// Models is what the server needs of the registry.
type Models interface {
	InferDeferred(ctx context.Context, name, version, key string, call registry.Deferred) (*tensor.Response, error)
	Index(readyOnly bool) []registry.IndexEntry
	Load(ctx context.Context, name string, config []byte) error
	Unload(ctx context.Context, name string) error
	Lookup(name, version string) (*registry.Version, error)
	Versions(name string) ([]*registry.Version, error)
	Names() []string
	Ready() bool
}

var _ Models = (*registry.Registry)(nil)

// Rollouts is what the admin API needs of the rollout controller.
type Rollouts interface {
	Status(name string) (rollout.Status, registry.Traffic, error)
	Start(ctx context.Context, name string, spec []byte, canary int64) (rollout.Status, error)
	Action(ctx context.Context, name, action string) (rollout.Status, error)
	SetTraffic(ctx context.Context, name string, t registry.Traffic) error
	LoadAsCanary(ctx context.Context, name string, config []byte) error
}

var _ Rollouts = (*rollout.Controller)(nil)

// Version is Sluice's version, reported by GET /v2.
const Version = "0.1.0"

// Server is the HTTP front door.
type Server struct {
	cfg            Config
	models         Models
	rollouts       Rollouts
	log            *slog.Logger
	http           *fasthttp.Server
	metricsHandler fasthttp.RequestHandler // Prometheus exposition of the gatherer
	autoscale      Recommendations         // nil: /v2/admin/autoscale answers 404
	fleet          Fleet                   // nil: alone; /v2/admin/fleet answers 404
	drift          Drift                   // nil: drift monitoring is off; /v2/admin/models/{m}/drift answers 404
	access         *access                 // API keys and rate limits of inference calls
	certs          *certReloader           // nil: plain HTTP
	setupErr       error                   // a bad key list or TLS pair, returned by Serve
	now            func() time.Time        // the clock rate limits read
	draining       atomic.Bool             // the serve context ended: ready answers 503 while calls in flight finish
	bodies         *bodyBudget             // inference body bytes held at once
	refused        *refusals               // what the front door turned away, by reason
}

// Recommendations is what the server shows of the replica recommender.
type Recommendations interface {
	Snapshot() []autoscale.ModelSignals
}

// WithAutoscale serves a's recommendations at GET /v2/admin/autoscale.
func (s *Server) WithAutoscale(a Recommendations) *Server {
	s.autoscale = a
	return s
}

// New builds a server over models and their rollouts that exposes
// gatherer on /metrics; Serve starts it.
func New(cfg Config, models Models, rollouts Rollouts, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, models: models, rollouts: rollouts, log: log,
		metricsHandler: fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})),
		refused:        newRefusals()}
	s.bodies = &bodyBudget{limit: cfg.MaxBodyBytesInFlight, refused: s.refused.bodyBytes}
	s.http = &fasthttp.Server{
		Handler:      s.observe(s.handle),
		ErrorHandler: errorHandler,
		Name:         "sluice",
		// Handlers read bodies themselves (body.go): a refused call's
		// body is discarded unread, and max_body_bytes is theirs to check.
		StreamRequestBody:    true,
		MaxRequestBodySize:   cfg.MaxBodyBytes,
		ReadTimeout:          cfg.ReadTimeout,
		WriteTimeout:         cfg.WriteTimeout,
		IdleTimeout:          cfg.IdleTimeout,
		NoDefaultContentType: true,
		CloseOnShutdown:      true,
		// A connection's goroutine waits this long for the next connection
		// once its own has closed (fasthttp's default is 10 s): after a
		// flood of connections, goroutines return to their baseline soon.
		MaxIdleWorkerDuration:         2 * time.Second,
		Logger:                        fasthttpLogger{log},
		DisableHeaderNamesNormalizing: false,
	}
	s.setupAccess()
	return s
}

// fasthttpLogger sends fasthttp's connection-level messages (a client that
// sent too large a body, a reset connection) to the debug log: they are
// answered already and are the client's business.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}

// Serve answers on ln until ctx ends, then stops accepting, lets requests
// in flight finish for up to drain, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	if s.setupErr != nil {
		return s.setupErr
	}
	ln = newLimitListener(ln, s.cfg.MaxConnections, s.certs == nil, s.refused.connections)
	if s.certs != nil {
		ln = tls.NewListener(ln, s.certs.config())
	}
	done := make(chan error, 1)
	go func() { done <- s.http.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// Readiness turns false before the drain, so a balancer stops sending
	// calls while those in flight finish.
	s.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := s.http.ShutdownWithContext(sctx)
	if serr := <-done; serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// Connections still open now are cut when the process exits; that
		// is the drain period's purpose, not a failure to report upwards.
		s.log.Warn("shutdown: connections still open after the drain period", "drain", drain)
		return nil
	}
	return err
}
