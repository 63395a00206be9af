package server

import (
	"crypto/tls"
	"errors"
	"net"
)

// Gate is this server's access control lent to another front door (the
// gRPC port), so both check the same keys and admin token and draw on the
// same rate-limit buckets: a caller's rate is one budget whichever port it
// calls.
type Gate struct{ s *Server }

// Gate returns the server's access control for another front door.
func (s *Server) Gate() Gate { return Gate{s} }

// AdmitInference authenticates the key presented (empty: none) for a call
// to model and takes the key's and the model's rate tokens. Refusals are
// counted with the HTTP port's, by the status HTTP would have answered.
func (g Gate) AdmitInference(key []byte, model string) error {
	if !g.s.access.guards() {
		return nil
	}
	err := g.s.access.admit(key, model, g.s.now())
	if err == nil {
		return nil
	}
	g.s.refused.access(statusOf(err))
	return err
}

// AuthorizeAdmin checks an Authorization value ("Bearer <token>") for the
// repository and admin calls of a front door listening on addr.
func (g Gate) AuthorizeAdmin(authorization []byte, addr string) error {
	return g.s.authorizeAdmin(authorization, addr)
}

// RetryAfter is the whole seconds a refused caller should wait, for a
// rate-limit refusal; false for any other error.
func (g Gate) RetryAfter(err error) (string, bool) {
	var rl *rateLimited
	if errors.As(err, &rl) {
		return rl.retryAfter(), true
	}
	return "", false
}

// TLSConfig is the configuration the HTTP port serves TLS with (the same
// certificate, reloaded when its files change), nil when it serves plain
// HTTP, and the setup error the server will return from Serve.
func (g Gate) TLSConfig() (*tls.Config, error) {
	if g.s.setupErr != nil || g.s.certs == nil {
		return nil, g.s.setupErr
	}
	return g.s.certs.config(), nil
}

// LimitConnections bounds the connections another door's listener serves
// at once by server.max_connections (a count of its own), counting the
// refusals with HTTP's; one more is closed at once, without an answer,
// since it may not speak HTTP/1.1.
func (g Gate) LimitConnections(ln net.Listener) net.Listener {
	return newLimitListener(ln, g.s.cfg.MaxConnections, false, g.s.refused.connections)
}
