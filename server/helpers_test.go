package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
)

// testServer is a real server on a loopback port the OS chose, over a
// repository holding copies of the named models.
type testServer struct {
	url  string
	reg  *registry.Registry
	repo string // the repository folder, a copy the test may change
}

// modelDirs says where each model the tests use lives in the repository.
var modelDirs = map[string]string{
	"ppocr-cls":       "models/ppocr-cls",
	"student-success": "models/student-success",
	"alltypes":        "testdata/models/alltypes",
	"nobatch":         "testdata/models/nobatch",
	"rowid":           "testdata/models/rowid",
	"dynamic2":        "testdata/models/dynamic2",
	"fp16out":         "testdata/models/fp16out",
	"failing":         "testdata/models/failing",
}

func startServer(t testing.TB, cfg server.Config, models ...string) *testServer {
	return startServerMode(t, cfg, registry.ModePoll, models...)
}

func startServerMode(t testing.TB, cfg server.Config, mode string, models ...string) *testServer {
	return startServerWith(t, cfg, mode, serverHooks{}, models...)
}

// serverHooks let a test change the repository before the models load and
// attach collaborators to the server before it serves.
type serverHooks struct {
	// prepare edits the repository once the models are copied in.
	prepare func(repo string)
	// attach runs before the first load and before serving; the function
	// it returns, if any, runs when the server has stopped, before the
	// registry drains.
	attach func(repo string, reg *registry.Registry, srv *server.Server, promReg *prometheus.Registry) func()
}

func startServerWith(t testing.TB, cfg server.Config, mode string, hooks serverHooks, models ...string) *testServer {
	t.Helper()
	ortest.Init(t)
	repo := t.TempDir()
	for _, m := range models {
		ortest.CopyModel(t, modelDirs[m], filepath.Join(repo, m))
	}
	if hooks.prepare != nil {
		hooks.prepare(repo)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	promReg := prometheus.NewRegistry()
	rcfg := registry.DefaultConfig()
	rcfg.Path, rcfg.ControlMode = repo, mode
	reg, err := registry.New(rcfg, log, promReg)
	if err != nil {
		t.Fatal(err)
	}
	reg.CheckRolloutSpecs(rollout.CheckConfig)
	ctl, err := rollout.New(reg, filepath.Join(repo, ".sluice"), log, promReg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(cfg, reg, ctl, promReg, log)
	detach := func() {}
	if hooks.attach != nil {
		if d := hooks.attach(repo, reg, srv, promReg); d != nil {
			detach = d
		}
	}
	if err := reg.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	promReg.MustRegister(srv.Collectors()...)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		httpClient.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		detach()
		ctl.Close()
		if err := reg.Close(context.Background()); err != nil {
			t.Errorf("closing the registry: %v", err)
		}
	})
	return &testServer{url: "http://" + ln.Addr().String(), reg: reg, repo: repo}
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

// do sends a request and returns status, headers and body; it fails the
// test on a transport error, so it runs on the test goroutine only.
func (s *testServer) do(t testing.TB, method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	status, h, b, err := s.try(method, path, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return status, h, b
}

// try sends a request and reports a transport error instead of failing the
// test: the form for goroutines other than the test's.
func (s *testServer) try(method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline rather than spinning forever when the thing awaited broke.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inferResponse is the JSON shape of a v2 infer response, read the slow,
// obvious way so it checks the server's hand-written encoder.
type inferResponse struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           string `json:"id"`
	Outputs      []struct {
		Name       string         `json:"name"`
		DataType   string         `json:"datatype"`
		Shape      []int64        `json:"shape"`
		Data       []any          `json:"data"`
		Parameters map[string]any `json:"parameters"`
	} `json:"outputs"`
}

func decodeJSON[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}
