package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
)

// serveUntilCancelled runs `sluice serve` in-process over repo as
// serveInBackground does, but hands the test the cancel, which is what
// SIGTERM does to serve's context, and the channel serve's error arrives on.
func serveUntilCancelled(t *testing.T, repo string) (addr string, cancel func(), served <-chan error) {
	t.Helper()
	ortest.Init(t)
	ctx, stop := context.WithCancel(context.Background())
	logs := &addrLog{addr: make(chan string, 1)}
	done := make(chan error, 1)
	finished := make(chan struct{}) // closed when serve returns; done is the test's
	args := []string{"-server.addr", "127.0.0.1:0", "-server.grpc_addr", "127.0.0.1:0", "-log.level", "info", "-log.format", "json", "-repository.path", repo}
	go func() { defer close(finished); done <- serve(ctx, args, os.Environ(), logs) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-finished:
		case <-time.After(time.Minute):
			t.Error("serve never returned after its context ended")
		}
	})
	select {
	case addr = <-logs.addr:
	case err := <-done:
		t.Fatalf("serve returned before it was serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve never said where it serves")
	}
	return addr, stop, done
}

// slowRepo lays out student-slow as model "slow" with the given config.
func slowRepo(t *testing.T, config string) string {
	t.Helper()
	repo := t.TempDir()
	src, err := os.ReadFile(ortest.Fixture(t, "student-slow"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "slow", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "slow", "1", "model.onnx"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "slow", "config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return repo
}

// freshClient opens a new connection per request, so what it sees after
// shutdown begins is what a new client would see.
func freshClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// getStatus is a GET's status, or 0 when no answer came (refused, reset).
func getStatus(c *http.Client, url string) int {
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// SIGTERM while a model warms: the load's context is the serve context, so
// the warm-up is cut short and serve returns well before the load would
// have finished.
func TestServeReturnsPromptlyWhenStoppedDuringALoad(t *testing.T) {
	// A warm-up at 4096 rows through a thousand matrix products: seconds.
	addr, cancel, served := serveUntilCancelled(t, slowRepo(t, "instances: 1\nmax_batch_size: 4096\n"))
	c := freshClient()
	if got := getStatus(c, "http://"+addr+"/v2/models/slow/ready"); got != 503 {
		t.Fatalf("the slow model is not loading when the signal comes (ready: %d); make it slower", got)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve stopped during a load: %v", err)
		}
		t.Logf("serve returned %v after the signal, mid-load", time.Since(start).Round(time.Millisecond))
	case <-time.After(drainTime):
		t.Fatalf("serve still running %v after the signal during a load", drainTime)
	}
}

// SIGTERM while calls are in flight: readiness turns false at once (a new
// connection is refused, or a probe that slips in answers 503), no new call
// is served, and every call in flight finishes with 200 within the drain.
func TestServeDrainsCallsInFlightOnSignal(t *testing.T) {
	addr, cancel, served := serveUntilCancelled(t, slowRepo(t, "instances: 1\nmax_batch_size: 256\n"))
	base := "http://" + addr
	c := freshClient()
	for deadline := time.Now().Add(2 * time.Minute); getStatus(c, base+"/v2/health/ready") != 200; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never turned ready")
		}
	}
	body := ortest.FeaturesCall(256)
	const calls = 4 // one instance: they run one after another, a second or so in all
	results := make(chan string, calls)
	for range calls {
		go func() { results <- postResult(c, base+"/v2/models/slow/infer", body) }()
	}
	// Every call has arrived: each is queued or running.
	for deadline := time.Now().Add(30 * time.Second); pending(c, base+"/v2/models/slow/stats") != calls; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the %d calls never were in flight together", calls)
		}
	}
	cancel()
	for deadline := time.Now().Add(2 * time.Second); getStatus(c, base+"/v2/health/ready") == 200; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("readiness still 200 two seconds after the signal")
		}
	}
	if got := postResult(c, base+"/v2/models/slow/infer", ortest.FeaturesCall(1)); got == "200" {
		t.Error("a new call after the signal was served")
	}
	for range calls {
		select {
		case got := <-results:
			if got != "200" {
				t.Errorf("a call in flight at the signal: %s, want 200", got)
			}
		case <-time.After(drainTime + 5*time.Second):
			t.Fatal("a call in flight never finished")
		}
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(2 * drainTime):
		t.Fatal("serve never returned after the drain")
	}
}

// postResult is the call's status, or the transport error.
func postResult(c *http.Client, url, body string) string {
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	return fmt.Sprint(resp.StatusCode)
}

// pending is the model's queued plus running calls, from its statistics;
// -1 when they cannot be read.
func pending(c *http.Client, url string) int64 {
	resp, err := c.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var st struct {
		ModelStats []struct {
			QueueDepth int64 `json:"queue_depth"`
			InFlight   int64 `json:"inflight"`
		} `json:"model_stats"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil || len(st.ModelStats) != 1 {
		return -1
	}
	return st.ModelStats[0].QueueDepth + st.ModelStats[0].InFlight
}
