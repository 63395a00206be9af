package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/tensor"
)

// APIKeyHeader is the header that may carry an inference API key instead
// of Authorization: Bearer <key>.
const APIKeyHeader = "Sluice-Api-Key"

// keyEntry is one entry of server.api_keys_file or server.api_keys, a YAML
// or JSON list such as
//
//   - name: team-a
//     key_sha256: 9f86d0...   # hex SHA-256 of the key (or key: <plaintext>)
//     models: [student-success]   # empty or absent: every model
//     rate: 50                    # calls/s for this key; 0 or absent: no limit
//     burst: 100                  # 0 or absent: the rate rounded up
type keyEntry struct {
	Name      string   `json:"name"`
	KeySHA256 string   `json:"key_sha256"`
	Key       string   `json:"key"`
	Models    []string `json:"models"`
	Rate      float64  `json:"rate"`
	Burst     int      `json:"burst"`
}

// apiKey is a key as the server keeps it: its SHA-256 only, never the key.
type apiKey struct {
	name   string
	hash   [sha256.Size]byte
	models []string // empty: every model
	limit  *limit   // nil: no per-key rate limit
}

// keyring holds the configured keys; nil means inference is open.
type keyring struct{ keys []*apiKey }

// loadKeys reads server.api_keys_file and server.api_keys. Errors name the
// key, the entry and its name, never a key or a hash.
func loadKeys(c Config) (*keyring, error) {
	var entries []keyEntry
	if c.APIKeysFile != "" {
		b, err := os.ReadFile(c.APIKeysFile)
		if err != nil {
			return nil, fmt.Errorf("server.api_keys_file: %w", err)
		}
		if entries, err = parseKeys("server.api_keys_file", b); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(c.APIKeys) != "" {
		more, err := parseKeys("server.api_keys", []byte(c.APIKeys))
		if err != nil {
			return nil, err
		}
		entries = append(entries, more...)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	return buildKeyring(entries)
}

// parseKeys decodes a list of entries strictly, so a misspelt field fails.
// The decoder's message names fields and lines, not values.
func parseKeys(source string, b []byte) ([]keyEntry, error) {
	var entries []keyEntry
	if err := yaml.UnmarshalStrict(b, &entries); err != nil {
		return nil, fmt.Errorf("%s: %v; expected a YAML or JSON list of {name, key_sha256 or key, models, rate, burst}", source, redactParseError(err))
	}
	return entries, nil
}

// redactParseError keeps a parse error only when it cannot quote the
// input: YAML syntax errors and JSON type errors name lines and fields, but
// a YAML type error may quote the value it could not convert.
func redactParseError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "`") || strings.Contains(msg, "unmarshal !!") {
		return "an entry has a field of the wrong type"
	}
	return msg
}

func buildKeyring(entries []keyEntry) (*keyring, error) {
	kr := &keyring{}
	for i, e := range entries {
		k, err := e.build()
		if err != nil {
			return nil, fmt.Errorf("api key %d (%q): %w", i+1, e.Name, err)
		}
		for _, other := range kr.keys {
			if other.name == k.name || other.hash == k.hash {
				return nil, fmt.Errorf("api key %d (%q): same name or key as %q; expected each key once", i+1, e.Name, other.name)
			}
		}
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// build hashes a plaintext key at once; the entry is dropped after.
func (e keyEntry) build() (*apiKey, error) {
	if e.Name == "" {
		return nil, errors.New("no name; expected a name that logs and errors can show")
	}
	k := &apiKey{name: e.Name, models: e.Models}
	switch {
	case (e.Key == "") == (e.KeySHA256 == ""):
		return nil, errors.New("expected exactly one of key and key_sha256")
	case e.Key != "":
		k.hash = sha256.Sum256([]byte(e.Key))
	default:
		h, err := hex.DecodeString(e.KeySHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, errors.New("key_sha256: expected 64 hex digits, the SHA-256 of the key")
		}
		copy(k.hash[:], h)
	}
	if e.Rate < 0 || e.Burst < 0 {
		return nil, fmt.Errorf("rate %g, burst %d: expected 0 or more", e.Rate, e.Burst)
	}
	if e.Rate > 0 {
		k.limit = newLimit(fmt.Sprintf("api key %q", e.Name), RateLimit{Rate: e.Rate, Burst: e.Burst})
	}
	return k, nil
}

// presentedKey reads Authorization: Bearer <key>, else Sluice-Api-Key.
func presentedKey(h *fasthttp.RequestHeader) []byte {
	const bearer = "Bearer "
	if auth := h.Peek("Authorization"); len(auth) > len(bearer) && bytes.EqualFold(auth[:len(bearer)], []byte(bearer)) {
		return auth[len(bearer):]
	}
	return h.Peek(APIKeyHeader)
}

// authenticate finds the key presented. Every stored hash is compared, in
// constant time, so the time taken tells nothing of which key matched.
func (kr *keyring) authenticate(presented []byte) (*apiKey, error) {
	if len(presented) == 0 {
		return nil, challenge{tensor.Errorf(tensor.Unauthenticated, "inference needs an API key: send Authorization: Bearer <key> or %s: <key>", APIKeyHeader), "sluice"}
	}
	sum := sha256.Sum256(presented)
	var found *apiKey
	for _, k := range kr.keys {
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			found = k
		}
	}
	if found == nil {
		return nil, challenge{tensor.Errorf(tensor.Unauthenticated, "the API key presented is not one of the configured keys"), "sluice"}
	}
	return found, nil
}

// mayCall reports whether the key may call model, naming both when not.
func (k *apiKey) mayCall(model string) error {
	if len(k.models) == 0 || slices.Contains(k.models, model) {
		return nil
	}
	return tensor.Errorf(tensor.PermissionDenied, "api key %q may not call model %q; it may call %s", k.name, model, strings.Join(k.models, ", "))
}

// challenge is a 401 that carries the WWW-Authenticate realm to answer.
type challenge struct {
	error
	realm string
}

func (c challenge) Unwrap() error { return c.error }

// deny answers a refused call: the error's status, plus the header that
// tells the caller what to do next (authenticate, or come back later).
func (s *Server) deny(ctx *fasthttp.RequestCtx, err error) {
	writeError(ctx, err)
	s.refused.access(ctx.Response.StatusCode())
	var c challenge
	if errors.As(err, &c) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="`+c.realm+`"`)
	}
	var rl *rateLimited
	if errors.As(err, &rl) {
		ctx.Response.Header.Set("Retry-After", rl.retryAfter())
	}
}

// setupAccess reads the API keys and the TLS pair once, at New; an error
// waits for Serve, which returns it before opening for calls. The inline
// key list is dropped from the kept config: only hashes stay in memory.
func (s *Server) setupAccess() {
	s.now = time.Now
	s.access, s.setupErr = newAccess(s.cfg)
	s.cfg.APIKeys = ""
	if s.setupErr == nil && s.cfg.TLSCertFile != "" {
		s.certs, s.setupErr = newCertReloader(s.cfg.TLSCertFile, s.cfg.TLSKeyFile, s.log)
	}
}

// checkAccess is the one gate in front of the handlers: the admin token
// for the repository and admin APIs, API keys and rate limits for
// inference. Health, metadata and metrics stay open.
func (s *Server) checkAccess(ctx *fasthttp.RequestCtx, r route) error {
	switch {
	case r.kind.needsAdmin():
		return s.authorize(ctx)
	case r.kind == routeInfer && s.access.guards(): // nothing configured: no work per call
		return s.access.admit(presentedKey(&ctx.Request.Header), r.model, s.now())
	}
	return nil
}

// needsAdmin holds for the repository API and /v2/admin, the kinds from
// routeRepoIndex on: they load, unload and steer models.
func (k routeKind) needsAdmin() bool { return k >= routeRepoIndex }
