package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
)

// fakeModels answers every inference call at once; access control runs
// before the registry, so no model needs to load.
type fakeModels struct{}

func (fakeModels) InferDeferred(_ context.Context, name, _, _ string, call registry.Deferred) (*tensor.Response, error) {
	if _, err := call.Request(); err != nil {
		return nil, err
	}
	return &tensor.Response{ModelName: name, ModelVersion: "1"}, nil
}
func (fakeModels) Index(bool) []registry.IndexEntry { return []registry.IndexEntry{} }
func (fakeModels) Load(context.Context, string, []byte) error {
	return nil
}
func (fakeModels) Unload(context.Context, string) error { return nil }
func (fakeModels) Lookup(name, _ string) (*registry.Version, error) {
	return nil, tensor.Errorf(tensor.NotFound, "no model %q", name)
}
func (fakeModels) Versions(name string) ([]*registry.Version, error) {
	return nil, tensor.Errorf(tensor.NotFound, "no model %q", name)
}
func (fakeModels) Names() []string { return nil }
func (fakeModels) Ready() bool     { return true }

var _ server.Models = fakeModels{}

// syncBuffer is a log sink the server's goroutines may write to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFake serves cfg over fakeModels on a loopback port, logging at
// debug level into logs; scheme is http or https.
func startFake(t *testing.T, cfg server.Config, scheme string, logs *syncBuffer) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.New(cfg, fakeModels{}, nil, prometheus.NewRegistry(), log).Serve(ctx, ln, time.Second)
	}()
	t.Cleanup(func() {
		httpClient.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{url: scheme + "://" + ln.Addr().String()}
}

const inferBody = `{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}`

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestInferenceAccessControl(t *testing.T) {
	secrets := []string{"open-secret-1", "scoped-secret-2", "limited-secret-3", "unknown-secret-4"}
	cfg := server.DefaultConfig()
	cfg.APIKeys = fmt.Sprintf(`
- {name: open, key: %s}
- {name: scoped, key_sha256: %s, models: [allowed]}
- {name: limited, key: %s, rate: 0.001, burst: 1}
`, secrets[0], sha256Hex(secrets[1]), secrets[2])
	// One call per 1000 s with a burst of 1: the second call is refused
	// with Retry-After 1000, whatever the test's speed.
	cfg.ModelRateLimits = map[string]server.RateLimit{"hot": {Rate: 0.001, Burst: 1}}
	logs := &syncBuffer{}
	s := startFake(t, cfg, "http", logs)
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	tests := []struct {
		name       string
		model      string
		hdr        map[string]string
		status     int
		retryAfter string
		challenge  bool
		body       string
	}{
		{"no key", "m", nil, 401, "", true, "Authorization: Bearer <key> or Sluice-Api-Key"},
		{"unknown key", "m", bearer(secrets[3]), 401, "", true, "not one of the configured keys"},
		{"key not for the model", "other", bearer(secrets[1]), 403, "", false, `api key \"scoped\" may not call model \"other\"`},
		{"key for the model, own header", "allowed", map[string]string{"Sluice-Api-Key": secrets[1]}, 200, "", false, `"model_name":"allowed"`},
		{"key for every model", "m", bearer(secrets[0]), 200, "", false, `"model_name":"m"`},
		{"within the key's rate", "m", bearer(secrets[2]), 200, "", false, `"model_name":"m"`},
		{"over the key's rate", "m", bearer(secrets[2]), 429, "1000", false, `api key \"limited\": 0.001 calls/s`},
		{"within the model's rate", "hot", bearer(secrets[0]), 200, "", false, `"model_name":"hot"`},
		{"over the model's rate", "hot", bearer(secrets[0]), 429, "1000", false, `model \"hot\": 0.001 calls/s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := s.do(t, "POST", "/v2/models/"+tt.model+"/infer", []byte(inferBody), tt.hdr)
			if status != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("status %d body %s, want %d with %q", status, body, tt.status, tt.body)
			}
			if got := h.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if got := h.Get("WWW-Authenticate"); (got != "") != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want one: %v", got, tt.challenge)
			}
			assertNoSecret(t, "response", string(body), secrets)
		})
	}
	assertNoSecret(t, "server log", logs.String(), secrets)
}

// assertNoSecret fails when text holds a key or a key's hash.
func assertNoSecret(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, k := range secrets {
		if strings.Contains(text, k) || strings.Contains(text, sha256Hex(k)) {
			t.Errorf("the %s shows the key %q or its hash:\n%s", where, k, text)
		}
	}
}

func TestInferenceIsOpenWithoutKeys(t *testing.T) {
	s := startFake(t, server.DefaultConfig(), "http", &syncBuffer{})
	if status, _, body := s.do(t, "POST", "/v2/models/m/infer", []byte(inferBody), nil); status != 200 {
		t.Errorf("status %d body %s, want 200 with no keys configured", status, body)
	}
}

func TestRepositoryAPINeedsTheAdminToken(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.AdminToken = "admin-secret"
	s := startFake(t, cfg, "http", &syncBuffer{})
	tests := []struct {
		name, path string
		hdr        map[string]string
		status     int
	}{
		{"index without a token", "/v2/repository/index", nil, 401},
		{"load without a token", "/v2/repository/models/m/load", nil, 401},
		{"unload without a token", "/v2/repository/models/m/unload", nil, 401},
		{"index with a wrong token", "/v2/repository/index", map[string]string{"Authorization": "Bearer nope"}, 403},
		{"index with the token", "/v2/repository/index", map[string]string{"Authorization": "Bearer admin-secret"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := s.do(t, "POST", tt.path, []byte(`{}`), tt.hdr)
			if status != tt.status {
				t.Errorf("status %d body %s, want %d", status, body, tt.status)
			}
			if challenged := h.Get("WWW-Authenticate") != ""; challenged != (tt.status == 401) {
				t.Errorf("WWW-Authenticate %q on a %d", h.Get("WWW-Authenticate"), status)
			}
		})
	}
}
