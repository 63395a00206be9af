package grpcserver

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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// Models is what the gRPC front door needs of the registry.
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

// Rollouts is what a repository load with the "rollout": "canary"
// parameter needs of the rollout controller.
type Rollouts interface {
	LoadAsCanary(ctx context.Context, name string, config []byte) error
}

// Gate is the access control this door shares with the HTTP one (the
// server package's Gate).
type Gate interface {
	// AdmitInference authenticates the key presented (empty: none) for a
	// call to model and takes its rate tokens.
	AdmitInference(key []byte, model string) error
	// AuthorizeAdmin checks an Authorization value for a repository call
	// to a door listening on addr.
	AuthorizeAdmin(authorization []byte, addr string) error
	// RetryAfter is the seconds to wait after a rate-limit refusal.
	RetryAfter(err error) (string, bool)
	// TLSConfig is the TLS the HTTP door serves with, nil for none.
	TLSConfig() (*tls.Config, error)
	// LimitConnections bounds the connections ln serves at once.
	LimitConnections(ln net.Listener) net.Listener
}

// Config is the gRPC door's share of the server configuration.
type Config struct {
	// Addr is the host:port listened on; it decides, with no admin token,
	// whether the repository calls answer (only on loopback).
	Addr string
	// MaxMessageBytes bounds one request message, as max_body_bytes
	// bounds an HTTP body; replies may be as large.
	MaxMessageBytes int
	// MaxStreams bounds the calls (streams) one connection runs at once.
	MaxStreams uint32
	// InferTimeout bounds an inference call whose client set no shorter
	// deadline; ControlTimeout bounds a repository load or unload.
	InferTimeout, ControlTimeout time.Duration
	// RoutingKey is the metadata key (lower-case) whose value keeps a
	// caller on one version during a canary rollout.
	RoutingKey string
	// AccessLog writes one info line per call.
	AccessLog bool
	// LogLevel is the process log's level, which LogSettings reads and
	// sets; nil leaves it fixed at info as far as LogSettings can tell.
	LogLevel *slog.LevelVar
}

// Version is reported by ServerMetadata, the same as HTTP's GET /v2.
const Version = "0.1.0"

// Server is the gRPC front door.
type Server struct {
	cfg      Config
	models   Models
	rollouts Rollouts
	gate     Gate
	log      *slog.Logger
	grpc     *grpc.Server
	calls    *prometheus.CounterVec
	draining atomic.Bool // Serve's context ended: ServerReady says false while calls finish
	shm      regions     // system shared-memory regions clients registered
}

var _ tritonpb.GRPCInferenceServiceServer = (*Server)(nil)

// New builds the door; Serve starts it. It fails only on a TLS pair the
// HTTP server could not read either.
func New(cfg Config, models Models, rollouts Rollouts, gate Gate, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, models: models, rollouts: rollouts, gate: gate, log: log,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_grpc_calls_total",
			Help: "gRPC calls answered, by method and status code.",
		}, []string{"method", "code"})}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
		grpc.MaxSendMsgSize(max(cfg.MaxMessageBytes, 64<<20)),
		grpc.MaxConcurrentStreams(cfg.MaxStreams),
		// Idle connections are closed as HTTP's idle keep-alives are; a
		// client pinging more than every 10 s is cut off, so pings cannot
		// keep a server busy.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.unaryObserve),
		grpc.ChainStreamInterceptor(s.streamObserve),
	}
	if gate != nil {
		tc, err := gate.TLSConfig()
		if err != nil {
			return nil, err
		}
		if tc != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
		}
	}
	s.grpc = grpc.NewServer(opts...)
	tritonpb.RegisterGRPCInferenceServiceServer(s.grpc, s)
	return s, nil
}

// Collectors are the door's metrics, for the caller's registry.
func (s *Server) Collectors() []prometheus.Collector { return []prometheus.Collector{s.calls} }

// Serve answers on ln until ctx ends, then stops taking calls and lets
// those in flight finish for up to drain before cutting them off.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	if s.gate != nil {
		ln = s.gate.LimitConnections(ln)
	}
	done := make(chan error, 1)
	go func() { done <- s.grpc.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("grpc %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("shutdown: gRPC calls still running after the drain period", "drain", drain)
		s.grpc.Stop()
		<-stopped
	}
	s.shm.closeAll() // no call runs any more
	if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
