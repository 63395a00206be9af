package coordination

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the coordination section of the server configuration.
type Config struct {
	// Endpoints are etcd's client URLs; none: this replica is alone, and
	// rollout state persists in the repository's .sluice folder.
	Endpoints []string `koanf:"endpoints"`
	// Prefix is the key prefix every key of this fleet lives under.
	Prefix string `koanf:"prefix"`
	// Replica names this replica in the fleet (default: the host name,
	// which is the pod's name in Kubernetes).
	Replica string `koanf:"replica"`
	// LeaseTTL is how long a replica that stopped answering stays a member
	// (and leader); a new leader takes over after it.
	LeaseTTL time.Duration `koanf:"lease_ttl"`
	// PublishInterval is how often a replica publishes its view and its
	// measurements.
	PublishInterval time.Duration `koanf:"publish_interval"`
	// DialTimeout bounds connecting to etcd and each call to it.
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// Username and Password authenticate to etcd when set.
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// TLSCertFile, TLSKeyFile and TLSCAFile, when set, speak TLS to etcd
	// (client certificate and key, and the CA that signed etcd's).
	TLSCertFile string `koanf:"tls_cert_file"`
	TLSKeyFile  string `koanf:"tls_key_file"`
	TLSCAFile   string `koanf:"tls_ca_file"`
}

// DefaultConfig is alone: no endpoints.
func DefaultConfig() Config {
	return Config{Endpoints: []string{}, Prefix: "/sluice", LeaseTTL: 5 * time.Second, PublishInterval: 500 * time.Millisecond, DialTimeout: 2 * time.Second}
}

// Enabled reports whether the replica is one of a fleet.
func (c Config) Enabled() bool { return len(c.Endpoints) > 0 }

// Validate names the key that is wrong.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	for _, e := range c.Endpoints {
		if !strings.Contains(e, "://") {
			return fmt.Errorf("coordination.endpoints: %q, expected a URL such as http://etcd-0.etcd:2379", e)
		}
	}
	switch {
	case !strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/"):
		return fmt.Errorf("coordination.prefix: %q, expected a path such as /sluice (leading slash, none trailing)", c.Prefix)
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("coordination.lease_ttl: %v, expected 1s or more (etcd leases count whole seconds)", c.LeaseTTL)
	case c.PublishInterval <= 0 || c.PublishInterval >= c.LeaseTTL:
		return fmt.Errorf("coordination.publish_interval: %v, expected more than 0 and less than coordination.lease_ttl (%v)", c.PublishInterval, c.LeaseTTL)
	case c.DialTimeout <= 0:
		return fmt.Errorf("coordination.dial_timeout: %v, expected a positive duration", c.DialTimeout)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("coordination.tls_cert_file and coordination.tls_key_file: expected both or neither")
	case (c.Username == "") != (c.Password == ""):
		return errors.New("coordination.username and coordination.password: expected both or neither")
	}
	return nil
}

// replica is this replica's name.
func (c Config) replica() (string, error) {
	if c.Replica != "" {
		return c.Replica, nil
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", fmt.Errorf("coordination.replica: empty and no host name to use (%v); expected a name unique in the fleet", err)
	}
	return h, nil
}

// tlsConfig is the TLS to speak to etcd, nil for plain.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCertFile == "" && c.TLSCAFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("coordination.tls_cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("coordination.tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("coordination.tls_ca_file: %s holds no PEM certificate", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
