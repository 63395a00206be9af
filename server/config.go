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
}

// DefaultConfig listens on loopback port 8000, like Triton's HTTP port.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:8000",
		MaxBodyBytes:   64 << 20,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    120 * time.Second,
		InferTimeout:   60 * time.Second,
		ControlTimeout: 5 * time.Minute,
		RoutingHeader:  "Sluice-Routing-Key",
	}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("server.addr: %q is not host:port: %v", c.Addr, err)
	}
	if c.RoutingHeader == "" {
		return fmt.Errorf("server.routing_header: empty, expected a header name such as Sluice-Routing-Key")
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("server.max_body_bytes: %d, expected at least 1024", c.MaxBodyBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"server.read_timeout", c.ReadTimeout}, {"server.write_timeout", c.WriteTimeout}, {"server.idle_timeout", c.IdleTimeout}, {"server.infer_timeout", c.InferTimeout}, {"server.control_timeout", c.ControlTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%s: %v, expected a positive duration", d.key, d.v)
		}
	}
	return nil
}
