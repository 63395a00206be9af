package server

import (
	"fmt"
	"net"
	"time"
)

// Config is the HTTP front door's configuration.
type Config struct {
	// Addr is the host:port the server listens on.
	Addr string `koanf:"addr"`
	// MaxBodyBytes is the largest request body accepted; larger gets 413.
	MaxBodyBytes int `koanf:"max_body_bytes"`
	// MetricsAddr, when set, serves /metrics on a host:port of its own as
	// well, as Triton's metrics port does.
	MetricsAddr string `koanf:"metrics_addr"`
	// GRPCAddr is the host:port of the gRPC front door (Triton's
	// inference.GRPCInferenceService); empty serves HTTP only. It shares
	// this section's limits, timeouts, keys, admin token and TLS pair.
	GRPCAddr string `koanf:"grpc_addr"`
	// MaxBodyBytesInFlight bounds the bytes of inference request bodies
	// held in memory at once (read, queued or running); a call that would
	// pass it is refused with 503 before its body is read.
	MaxBodyBytesInFlight int64 `koanf:"max_body_bytes_in_flight"`
	// MaxConnections bounds the connections served at once; one more is
	// answered 503 and closed. Each open connection holds a goroutine and
	// its read and write buffers.
	MaxConnections int `koanf:"max_connections"`
	// ReadTimeout bounds reading one request, headers and body.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout bounds writing one response.
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// InferTimeout bounds one inference call from arrival to answer.
	InferTimeout time.Duration `koanf:"infer_timeout"`
	// ControlTimeout bounds one control call of the repository or admin
	// API (a load with its warm-up, an unload with its drain).
	ControlTimeout time.Duration `koanf:"control_timeout"`
	// RoutingHeader names the request header whose value keeps a caller on
	// one version during a canary rollout.
	RoutingHeader string `koanf:"routing_header"`
	// AdminToken is the bearer token of the /v2/admin API. Without one the
	// admin API answers only when the server listens on loopback.
	AdminToken string `koanf:"admin_token"`
	// AccessLog writes one info line per call (requestlog.go); off by
	// default, since at thousands of calls a second it is most of the log.
	AccessLog bool `koanf:"access_log"`
	// AccessLogProbes adds health probes and /metrics scrapes to the
	// access log, which leaves them out otherwise.
	AccessLogProbes bool `koanf:"access_log_probes"`
	// APIKeysFile is a YAML or JSON list of inference API keys (see
	// auth.go for the format); empty with APIKeys empty: inference is open.
	APIKeysFile string `koanf:"api_keys_file"`
	// APIKeys is the same list inline, for SLUICE_API_KEYS; its entries
	// join the file's.
	APIKeys string `koanf:"api_keys"`
	// ModelRateLimits caps the calls per second each named model takes,
	// from all callers together.
	ModelRateLimits map[string]RateLimit `koanf:"model_rate_limits"`
	// TLSCertFile and TLSKeyFile, both or neither, make the server answer
	// HTTPS; the pair is read again when either file changes.
	TLSCertFile string `koanf:"tls_cert_file"`
	TLSKeyFile  string `koanf:"tls_key_file"`
}

// RateLimit is a token bucket: Rate calls per second on average, Burst at
// once; Burst 0 means the rate rounded up, at least 1.
type RateLimit struct {
	Rate  float64 `koanf:"rate" json:"rate"`
	Burst int     `koanf:"burst" json:"burst"`
}

// DefaultConfig listens on loopback port 8000, like Triton's HTTP port.
func DefaultConfig() Config {
	return Config{
		Addr:         "127.0.0.1:8000",
		GRPCAddr:     "127.0.0.1:8001",
		MaxBodyBytes: 64 << 20,
		// 256 MiB: a full queue of 1,024 PP-OCR calls is 113 MiB.
		MaxBodyBytesInFlight: 256 << 20,
		MaxConnections:       4096,
		ReadTimeout:          30 * time.Second,
		WriteTimeout:         30 * time.Second,
		IdleTimeout:          120 * time.Second,
		InferTimeout:         60 * time.Second,
		ControlTimeout:       5 * time.Minute,
		RoutingHeader:        "Sluice-Routing-Key",
		// Empty, not nil, so a file's `model_rate_limits: {}` equals it.
		ModelRateLimits: map[string]RateLimit{},
	}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("server.addr: %q is not host:port: %v", c.Addr, err)
	}
	if c.GRPCAddr != "" {
		if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
			return fmt.Errorf("server.grpc_addr: %q is not host:port: %v", c.GRPCAddr, err)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("server.metrics_addr: %q is not host:port: %v", c.MetricsAddr, err)
		}
	}
	if c.RoutingHeader == "" {
		return fmt.Errorf("server.routing_header: empty, expected a header name such as Sluice-Routing-Key")
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("server.max_body_bytes: %d, expected at least 1024", c.MaxBodyBytes)
	}
	if c.MaxBodyBytesInFlight < int64(c.MaxBodyBytes) {
		return fmt.Errorf("server.max_body_bytes_in_flight: %d, expected at least server.max_body_bytes (%d), or no body that large could ever be read", c.MaxBodyBytesInFlight, c.MaxBodyBytes)
	}
	if c.MaxConnections < 1 {
		return fmt.Errorf("server.max_connections: %d, expected at least 1", c.MaxConnections)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"server.read_timeout", c.ReadTimeout}, {"server.write_timeout", c.WriteTimeout}, {"server.idle_timeout", c.IdleTimeout}, {"server.infer_timeout", c.InferTimeout}, {"server.control_timeout", c.ControlTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%s: %v, expected a positive duration", d.key, d.v)
		}
	}
	return c.validateAccess()
}

// validateAccess checks the TLS pair, the model rate limits and that the
// API keys parse, so a bad key list stops the start rather than a call.
func (c Config) validateAccess() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("server.tls_cert_file and server.tls_key_file: set both or neither, got cert %q and key %q", c.TLSCertFile, c.TLSKeyFile)
	}
	for name, l := range c.ModelRateLimits {
		if err := l.validate(); err != nil {
			return fmt.Errorf("server.model_rate_limits.%s: %w", name, err)
		}
	}
	_, err := loadKeys(c)
	return err
}

func (l RateLimit) validate() error {
	if l.Rate <= 0 || l.Burst < 0 {
		return fmt.Errorf("rate %g, burst %d: expected a rate above 0 calls/s and a burst of 0 or more", l.Rate, l.Burst)
	}
	return nil
}
