package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

const (
	goodTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	goodParent = "00f067aa0ba902b7"
)

// generatedID is the shape of an id the server makes: 16 bytes in hex.
var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	long := strings.Repeat("a", maxRequestIDLen)
	for _, tc := range []struct {
		name        string
		hdr         map[string]string
		want        string // "" means a generated id is expected
		notTheTrace bool   // the generated id must not be goodTrace
	}{
		{name: "X-Request-Id", hdr: map[string]string{"X-Request-Id": "call-42 from batch/7"}, want: "call-42 from batch/7"},
		{name: "X-Request-Id at the length bound", hdr: map[string]string{"X-Request-Id": long}, want: long},
		{name: "X-Request-Id wins over traceparent", hdr: map[string]string{"X-Request-Id": "mine", "traceparent": "00-" + goodTrace + "-" + goodParent + "-01"}, want: "mine"},
		{name: "traceparent", hdr: map[string]string{"traceparent": "00-" + goodTrace + "-" + goodParent + "-01"}, want: goodTrace},
		{name: "too long X-Request-Id falls to traceparent", hdr: map[string]string{"X-Request-Id": long + "a", "traceparent": "00-" + goodTrace + "-" + goodParent + "-00"}, want: goodTrace},
		{name: "none", hdr: nil},
		{name: "X-Request-Id too long", hdr: map[string]string{"X-Request-Id": long + "a"}},
		{name: "X-Request-Id not ASCII", hdr: map[string]string{"X-Request-Id": "caf\u00e9"}},
		{name: "X-Request-Id with a control byte", hdr: map[string]string{"X-Request-Id": "a\x01b"}},
		{name: "traceparent uppercase hex", hdr: map[string]string{"traceparent": "00-" + strings.ToUpper(goodTrace) + "-" + goodParent + "-01"}, notTheTrace: true},
		{name: "traceparent unknown version", hdr: map[string]string{"traceparent": "01-" + goodTrace + "-" + goodParent + "-01"}, notTheTrace: true},
		{name: "traceparent zero trace-id", hdr: map[string]string{"traceparent": "00-" + strings.Repeat("0", 32) + "-" + goodParent + "-01"}},
		{name: "traceparent zero parent-id", hdr: map[string]string{"traceparent": "00-" + goodTrace + "-" + strings.Repeat("0", 16) + "-01"}, notTheTrace: true},
		{name: "traceparent short", hdr: map[string]string{"traceparent": "00-" + goodTrace[1:] + "-" + goodParent + "-01"}, notTheTrace: true},
		{name: "traceparent trailing data", hdr: map[string]string{"traceparent": "00-" + goodTrace + "-" + goodParent + "-01-x"}, notTheTrace: true},
		{name: "traceparent wrong separator", hdr: map[string]string{"traceparent": "00-" + goodTrace + "_" + goodParent + "-01"}, notTheTrace: true},
		{name: "traceparent bad flags", hdr: map[string]string{"traceparent": "00-" + goodTrace + "-" + goodParent + "-0g"}, notTheTrace: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for k, v := range tc.hdr {
				h.Set(k, v)
			}
			got := string(requestID(nil, &h))
			switch {
			case tc.want != "" && got != tc.want:
				t.Errorf("id %q, want %q", got, tc.want)
			case tc.want == "" && !generatedID.MatchString(got):
				t.Errorf("id %q, want a generated one of 32 hex digits", got)
			case tc.notTheTrace && got == goodTrace:
				t.Errorf("id %q taken from a malformed traceparent", got)
			}
		})
	}
}

// serve runs one call through h on a fresh ctx from a known remote address.
func serve(h fasthttp.RequestHandler, method, uri string, body []byte, hdr map[string]string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.SetBody(body)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, nil)
	h(ctx)
	return ctx
}

// logServer is a server without models, with an empty /metrics, whose
// log is JSON lines in buf.
func logServer(cfg Config) (*Server, *bytes.Buffer) {
	var buf bytes.Buffer
	return &Server{cfg: cfg, log: slog.New(slog.NewJSONHandler(&buf, nil)),
		metricsHandler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("# no metrics\n") }}, &buf
}

// logLines decodes every JSON line written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestResponseCarriesRequestID(t *testing.T) {
	s, _ := logServer(DefaultConfig())
	h := s.observe(s.handle)
	tp := "00-" + goodTrace + "-" + goodParent + "-01"
	if got := string(serve(h, "GET", "/v2/health/live", nil, map[string]string{"X-Request-Id": "abc-1"}).Response.Header.Peek(headerRequestID)); got != "abc-1" {
		t.Errorf("X-Request-Id answered %q, want the caller's abc-1", got)
	}
	if got := string(serve(h, "GET", "/v2/health/live", nil, map[string]string{"traceparent": tp}).Response.Header.Peek(headerRequestID)); got != goodTrace {
		t.Errorf("X-Request-Id answered %q, want the trace-id %s", got, goodTrace)
	}
	// An error answer resets the response; the id must survive it.
	a := string(serve(h, "GET", "/nowhere", nil, nil).Response.Header.Peek(headerRequestID))
	b := string(serve(h, "GET", "/nowhere", nil, map[string]string{"X-Request-Id": "bad\x7f"}).Response.Header.Peek(headerRequestID))
	if !generatedID.MatchString(a) || !generatedID.MatchString(b) || a == b {
		t.Errorf("generated ids %q and %q: want two different ids of 32 hex digits", a, b)
	}
}

// TestNewObservesCalls checks the wiring: the handler New installs is the
// observed one.
func TestNewObservesCalls(t *testing.T) {
	s := New(DefaultConfig(), nil, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	ctx := serve(s.http.Handler, "GET", "/v2/health/live", nil, map[string]string{"X-Request-Id": "wired"})
	if got := string(ctx.Response.Header.Peek(headerRequestID)); got != "wired" {
		t.Errorf("X-Request-Id answered %q through New's handler, want wired", got)
	}
}

func TestAccessLogInfer(t *testing.T) {
	s, body, hl := mlpServer(t)
	var buf bytes.Buffer
	s.log = slog.New(slog.NewJSONHandler(&buf, nil))
	s.cfg.AccessLog = true
	ctx := serve(s.observe(s.handle), "POST", "/v2/models/mlp/versions/1/infer", body,
		map[string]string{headerLength: strconv.Itoa(hl), "X-Request-Id": "req-7"})
	if ctx.Response.StatusCode() != fasthttp.StatusOK {
		t.Fatalf("infer answered %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want one access line: %s", len(lines), buf.Bytes())
	}
	l := lines[0]
	want := map[string]any{
		"level": "INFO", "msg": "access", "method": "POST", "path": "/v2/models/mlp/versions/1/infer",
		"model": "mlp", "version": "1", "serving_version": "1", "status": float64(200),
		"request_bytes": float64(len(body)), "response_bytes": float64(len(ctx.Response.Body())),
		"request_id": "req-7", "remote": "192.0.2.7:40000",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("access line %s = %v, want %v", k, l[k], v)
		}
	}
	if us, ok := l["latency_us"].(float64); !ok || us < 0 {
		t.Errorf("access line latency_us = %v, want a count of microseconds", l["latency_us"])
	}
	if l["response_bytes"] == float64(0) {
		t.Error("access line response_bytes = 0 for an answer with outputs")
	}
}

func TestAccessLogProbes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		on, probes bool
		path       string
		logged     bool
	}{
		{name: "off", path: "/nowhere"},
		{name: "a call", on: true, path: "/nowhere", logged: true},
		{name: "live probe", on: true, path: "/v2/health/live"},
		{name: "metrics scrape", on: true, path: "/metrics"},
		{name: "metrics scrape with probes on", on: true, probes: true, path: "/metrics", logged: true},
		{name: "live probe with probes on", on: true, probes: true, path: "/v2/health/live", logged: true},
		{name: "probes on, access log off", probes: true, path: "/v2/health/live"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.AccessLog, cfg.AccessLogProbes = tc.on, tc.probes
			s, buf := logServer(cfg)
			ctx := serve(s.observe(s.handle), "GET", tc.path, nil, map[string]string{"X-Request-Id": "p-1"})
			lines := logLines(t, buf)
			switch {
			case !tc.logged && len(lines) != 0:
				t.Errorf("logged %s, want nothing", buf.Bytes())
			case tc.logged && len(lines) != 1:
				t.Errorf("%d lines %s, want one access line", len(lines), buf.Bytes())
			case tc.logged && (lines[0]["path"] != tc.path || lines[0]["request_id"] != "p-1" || lines[0]["status"] != float64(ctx.Response.StatusCode())):
				t.Errorf("access line %v, want path %s, request_id p-1, status %d", lines[0], tc.path, ctx.Response.StatusCode())
			}
		})
	}
}

func TestPanicLogCarriesRequestID(t *testing.T) {
	s, buf := logServer(DefaultConfig())
	// A test-only handler: no route panics on purpose, and recoverPanic is
	// the same one handle defers.
	panicky := func(ctx *fasthttp.RequestCtx) {
		defer s.recoverPanic(ctx)
		panic("boom")
	}
	ctx := serve(s.observe(panicky), "GET", "/v2/health/live", nil, map[string]string{"X-Request-Id": "panic-1"})
	if ctx.Response.StatusCode() != fasthttp.StatusInternalServerError {
		t.Errorf("a panic answered %d, want 500", ctx.Response.StatusCode())
	}
	if got := string(ctx.Response.Header.Peek(headerRequestID)); got != "panic-1" {
		t.Errorf("X-Request-Id answered %q after a panic, want panic-1", got)
	}
	lines := logLines(t, buf)
	if len(lines) != 1 || lines[0]["msg"] != "handler panicked" || lines[0]["request_id"] != "panic-1" || lines[0]["panic"] != "boom" {
		t.Errorf("log %s, want one panic line with request_id panic-1", buf.Bytes())
	}
}

// TestObservedInferCallAllocationBudget holds the observed call, request
// id and all, to the budget of the bare handler in alloc_test.go: giving a
// call an id costs no allocation (pooled info, id from math/rand/v2).
func TestObservedInferCallAllocationBudget(t *testing.T) {
	s, body, hl := mlpServer(t)
	ctx := &fasthttp.RequestCtx{}
	hlen := strconv.Itoa(hl)
	h := s.observe(s.handle)
	call := func() { observedInferOnce(h, ctx, body, hlen) }
	call()
	if ctx.Response.StatusCode() != fasthttp.StatusOK || !generatedID.Match(ctx.Response.Header.Peek(headerRequestID)) {
		t.Fatalf("infer answered %d with X-Request-Id %q: %s", ctx.Response.StatusCode(), ctx.Response.Header.Peek(headerRequestID), ctx.Response.Body())
	}
	allocs := testing.AllocsPerRun(500, call)
	t.Logf("%.1f allocations per observed binary call", allocs)
	if allocs > inferAllocs+raceSlack {
		t.Errorf("%.1f allocations per observed binary call, budget %d", allocs, inferAllocs+raceSlack)
	}
}

// BenchmarkObservedInferCall is BenchmarkInferCall through observe, as New
// serves it: the difference is the request id's cost.
func BenchmarkObservedInferCall(b *testing.B) {
	s, body, hl := mlpServer(b)
	ctx := &fasthttp.RequestCtx{}
	hlen := strconv.Itoa(hl)
	h := s.observe(s.handle)
	b.ReportAllocs()
	for b.Loop() {
		observedInferOnce(h, ctx, body, hlen)
	}
}

// observedInferOnce sends one binary mlp call through h on a reused ctx.
func observedInferOnce(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, body []byte, hlen string) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/v2/models/mlp/infer")
	ctx.Request.Header.Set(headerLength, hlen)
	ctx.Request.SetBody(body)
	h(ctx)
}
