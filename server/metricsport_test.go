package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/server"
)

// server.metrics_addr: /metrics on an address of its own, and nothing else
// there.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_test_scraped", Help: "a counter to find"})
	reg.MustRegister(c)
	c.Add(3)
	srv := server.New(server.DefaultConfig(), fakeModels{}, nil, reg, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeMetrics(ctx, ln) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get("/metrics"); status != 200 || !strings.Contains(body, "sluice_test_scraped 3") {
		t.Errorf("/metrics: %d, want 200 with the registry's counter:\n%s", status, body)
	}
	if status, body := get("/v2/health/live"); status != 404 || !strings.Contains(body, "scrape /metrics") {
		t.Errorf("/v2/health/live on the metrics address: %d %s, want 404", status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeMetrics after its context ended: %v", err)
	}
}
