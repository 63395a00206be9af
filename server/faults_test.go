package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
)

// addModel lays out fixture as model name, version 1, with config.yaml.
func (s *testServer) addModel(t *testing.T, name, fixture, config string) {
	t.Helper()
	s.addVersion(t, name, fixture, "1")
	if err := os.WriteFile(filepath.Join(s.repo, name, "config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// brokenCall passes the all-zero warm-up's checks but fails in ONNX
// Runtime: student-broken indexes a one-entry table with x0×100.
var brokenCall = []byte(`{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,0,0,0,0,0,0,0]}]}`)

// An ONNX Runtime error in the middle of a batch: student-broken warmed on
// zeros and loaded, then fails on real inputs. Every call of the failing
// batches gets a 500 (a runtime fault of a loaded model), none hangs, and
// another model on the same server keeps answering 200 throughout. The
// failing fixture, whose every run fails, fails its warm-up instead and
// never serves: its calls get 503, with the reason in the index.
func TestRuntimeFailureFailsItsBatchOnly(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid", "failing")
	s.addModel(t, "broken", "student-broken", "instances: 1\nmax_batch_size: 8\nmax_queue_delay: 5ms\n")
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 32
	results := make(chan string, 2*n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			status, _, body, err := s.try("POST", "/v2/models/broken/infer", brokenCall, nil)
			results <- fmt.Sprintf("broken %d %s %v", status, body, err)
		})
		wg.Go(func() {
			status, _, body, err := s.try("POST", "/v2/models/rowid/infer", rowidCall, nil)
			results <- fmt.Sprintf("rowid %d %s %v", status, body, err)
		})
	}
	waitFor(t, "every call to answer", func() bool { return len(results) == 2*n })
	wg.Wait()
	close(results)
	for r := range results {
		ok := strings.HasPrefix(r, "rowid 200 ") || strings.HasPrefix(r, `broken 500 {"error":`) && strings.HasSuffix(r, "<nil>")
		if !ok {
			t.Errorf("call: %s", r)
		}
	}
	if body := s.statsOf(t, "broken"); !strings.Contains(body, `"fail":{"count":32`) {
		t.Errorf("stats of broken: %s, want 32 failed calls", body)
	}
	status, _, body := s.do(t, "POST", "/v2/models/failing/infer", []byte(`{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`), nil)
	if status != 503 {
		t.Errorf("call to the model whose warm-up failed: %d %s, want 503", status, body)
	}
	if e := s.index(t, "")["failing/1"]; e.State != registry.StateUnavailable || !strings.Contains(e.Reason, "warm-up inference failed") {
		t.Errorf("index row of failing: %+v", e)
	}
}

func (s *testServer) statsOf(t *testing.T, model string) string {
	t.Helper()
	_, _, b := s.do(t, "GET", "/v2/models/"+model+"/stats", nil, nil)
	return string(b)
}

// A model file corrupted before a reload of the same version number: the
// loaded version keeps serving, and the index says its reload failed.
func TestCorruptFileUnderTheSameVersionKeepsItServing(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	s.writeVersion(t, "rowid", "1", []byte("not an onnx model"))
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	status, _, body := s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil)
	if status != 200 || !strings.Contains(string(body), `"model_version":"1"`) {
		t.Errorf("after version 1's file became corrupt: %d %s, want the loaded version 1 serving", status, body)
	}
	if status, _, _ := s.do(t, "GET", "/v2/health/ready", nil, nil); status != 200 {
		t.Errorf("server ready: %d, want 200 while the old load serves", status)
	}
	e := s.index(t, "")["rowid/1"]
	if e.State != registry.StateReady || !strings.Contains(e.Reason, "Protobuf parsing failed") {
		t.Errorf("index row of version 1: %+v, want READY with the failed reload's reason", e)
	}
}

// An unload during a load: the model's control lock serialises them, so
// the unload waits for the load, then unloads. Both answer 200, and the
// model ends unloaded.
func TestUnloadDuringALoadWaitsAndUnloads(t *testing.T) {
	s := startServerMode(t, server.DefaultConfig(), registry.ModeExplicit, "rowid")
	// student-slow warmed at 1024 rows: seconds of loading.
	s.addModel(t, "slow", "student-slow", "instances: 1\nmax_batch_size: 1024\n")
	loaded := make(chan string, 1)
	go func() {
		status, _, body, err := s.try("POST", "/v2/repository/models/slow/load", nil, nil)
		loaded <- fmt.Sprintf("%d %s %v", status, body, err)
	}()
	waitFor(t, "the slow model to start loading", func() bool {
		return s.reg.Index(false) != nil && stateOf(s.reg, "slow") == registry.StateLoading
	})
	status, _, body := s.do(t, "POST", "/v2/repository/models/slow/unload", nil, nil)
	if status != 200 {
		t.Errorf("unload during a load: %d %s, want 200", status, body)
	}
	select {
	case got := <-loaded:
		if !strings.HasPrefix(got, "200 ") {
			t.Errorf("load: %s, want 200", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the load never answered")
	}
	if e := s.index(t, "")["slow/1"]; e.State != registry.StateUnavailable || !strings.Contains(e.Reason, "unloaded") {
		t.Errorf("index after load then unload: %+v, want UNAVAILABLE, unloaded", e)
	}
	if status, _, _ := s.do(t, "GET", "/v2/models/slow/ready", nil, nil); status == 200 {
		t.Error("slow is ready after its unload")
	}
	if status, _, _ := s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil); status != 200 {
		t.Errorf("rowid after the other model's load and unload: %d", status)
	}
}

func stateOf(r *registry.Registry, name string) string {
	for _, e := range r.Index(false) {
		if e.Name == name {
			return e.State
		}
	}
	return ""
}

// A client that sends its headers and then stalls the body past
// server.read_timeout has its connection closed, and the server keeps
// serving others meanwhile and after.
func TestStalledBodyIsCutAfterReadTimeout(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.ReadTimeout = 200 * time.Millisecond
	s := startServer(t, cfg, "rowid")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v2/models/rowid/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(rowidCall), rowidCall[:10])
	start := time.Now()
	if status, _, _ := s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil); status != 200 {
		t.Errorf("another client while one stalls: %d", status)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// The server answers 408 (or nothing) and closes the connection.
	line, _ := bufio.NewReader(conn).ReadString('\n')
	rest := make([]byte, 4096)
	for {
		if _, err := conn.Read(rest); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the stalled connection is still open %v later (first line %q)", time.Since(start), line)
			}
			break
		}
	}
	if line != "" && !strings.Contains(line, " 408 ") {
		t.Errorf("the stalled call was answered %q, want a closed connection or 408", line)
	}
	if took := time.Since(start); took < cfg.ReadTimeout/2 {
		t.Errorf("the connection closed after %v, before the read timeout %v", took, cfg.ReadTimeout)
	}
	t.Logf("stalled connection closed after %v with %q", time.Since(start).Round(time.Millisecond), line)
	if status, _, _ := s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil); status != 200 {
		t.Errorf("after the stalled client was cut: %d", status)
	}
}

// fasthttp never tells a handler that its client went away, so a call
// whose client closes the connection runs to completion or to its
// deadline (server.infer_timeout, or the call's timeout parameter); the
// batcher drops queued calls only when their context ends
// (batching/faults_test.go). What a server owes here: clients that vanish
// mid-call leave it healthy, its queue empties, and others are served.
func TestClientsThatDisconnectLeaveTheServerHealthy(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	s.addModel(t, "slow", "student-slow", "instances: 1\nmax_batch_size: 64\n")
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	call := ortest.FeaturesCall(64)
	addr := strings.TrimPrefix(s.url, "http://")
	const n = 8
	for range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(call), call)
		conn.Close() // gone before its answer
	}
	if status, _, body := s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil); status != 200 {
		t.Errorf("another model while clients vanish: %d %s", status, body)
	}
	waitFor(t, "the abandoned calls to leave the queue", func() bool {
		st := s.statsOf(t, "slow")
		return strings.Contains(st, `"queue_depth":0,`) && strings.Contains(st, `"inflight":0,`)
	})
	status, _, body := s.do(t, "POST", "/v2/models/slow/infer", []byte(call), nil)
	if status != 200 {
		t.Errorf("slow after its callers vanished: %d %s", status, body)
	}
	if status, _, _ := s.do(t, "GET", "/v2/health/ready", nil, nil); status != 200 {
		t.Errorf("ready: %d", status)
	}
}
