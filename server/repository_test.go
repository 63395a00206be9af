package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
)

// addVersion copies a fixture's model file in as version v of model.
func (s *testServer) addVersion(t *testing.T, model, fixture, v string) {
	t.Helper()
	b, err := os.ReadFile(ortest.Fixture(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	s.writeVersion(t, model, v, b)
}

func (s *testServer) writeVersion(t *testing.T, model, v string, b []byte) {
	t.Helper()
	dir := filepath.Join(s.repo, model, v)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Write then rename, as an operator's deploy should, so a poll never
	// reads half a file.
	tmp := filepath.Join(s.repo, model, ".model.onnx.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
}

func (s *testServer) index(t *testing.T, body string) map[string]registry.IndexEntry {
	t.Helper()
	status, _, b := s.do(t, "POST", "/v2/repository/index", []byte(body), nil)
	var rows []registry.IndexEntry
	if status != 200 || json.Unmarshal(b, &rows) != nil {
		t.Fatalf("index: %d %s", status, b)
	}
	out := map[string]registry.IndexEntry{}
	for _, r := range rows {
		out[r.Name+"/"+r.Version] = r
	}
	return out
}

var rowidCall = []byte(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`)

// TestReplacingAVersionUnderLoadLosesNoCall: 32 clients call rowid while
// version 2 appears, replaces version 1, and version 1 drains and unloads.
func TestReplacingAVersionUnderLoadLosesNoCall(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	var stop atomic.Bool
	var calls, v1, v2 atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 32)
	for range 32 {
		wg.Go(func() {
			for !stop.Load() {
				status, _, body, err := s.try("POST", "/v2/models/rowid/infer", rowidCall, nil)
				calls.Add(1)
				switch {
				case err != nil:
					errs <- err.Error()
					return
				case status != 200:
					errs <- string(body)
					return
				case strings.Contains(string(body), `"model_version":"1"`):
					v1.Add(1)
				case strings.Contains(string(body), `"model_version":"2"`):
					v2.Add(1)
				}
			}
		})
	}
	waitFor(t, "200 calls to version 1", func() bool { return calls.Load() >= 200 })
	s.addVersion(t, "rowid", "rowid", "2")
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := v2.Load()
	waitFor(t, "200 calls to version 2", func() bool { return v2.Load() >= seen+200 })
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a call failed during the replacement: %s", e)
	}
	t.Logf("%d calls: %d from version 1, %d from version 2", calls.Load(), v1.Load(), v2.Load())
	idx := s.index(t, "{}")
	if idx["rowid/1"].State != registry.StateUnavailable || !strings.Contains(idx["rowid/1"].Reason, "unloaded") || idx["rowid/2"].State != registry.StateReady {
		t.Errorf("index after replacement: %+v", idx)
	}
}

func TestCorruptVersionLeavesTheOldOneServing(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	s.writeVersion(t, "rowid", "2", []byte("not an onnx model"))
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	status, _, body := s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil)
	if status != 200 || !strings.Contains(string(body), `"model_version":"1"`) {
		t.Errorf("after a corrupt version 2: %d %s, want version 1 serving", status, body)
	}
	idx := s.index(t, "")
	if e := idx["rowid/2"]; e.State != registry.StateUnavailable || !strings.Contains(e.Reason, "Protobuf parsing failed") {
		t.Errorf("index row for the corrupt version: %+v", e)
	}
	if e := idx["rowid/1"]; e.State != registry.StateReady {
		t.Errorf("index row for version 1: %+v", e)
	}
	ready := s.index(t, `{"ready":true}`)
	if _, ok := ready["rowid/2"]; ok || len(ready) != 1 {
		t.Errorf("ready filter: %+v", ready)
	}
	_, _, metrics := s.do(t, "GET", "/metrics", nil, nil)
	if !strings.Contains(string(metrics), `sluice_model_load_failures_total{model="rowid"} 1`) {
		t.Error("/metrics does not count the load failure")
	}
}

// TestPollNoticesANewVersionWithinOneInterval drives Watch with a tick
// channel: one tick is one interval.
func TestPollNoticesANewVersionWithinOneInterval(t *testing.T) {
	s := startServerMode(t, server.DefaultConfig(), registry.ModePoll, "rowid")
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.reg.Watch(ctx, ticks) }()
	defer func() { cancel(); <-done }()
	s.addVersion(t, "rowid", "rowid", "2")
	ticks <- time.Now() // the interval ends: Watch polls
	ticks <- time.Now() // accepted only once that poll has finished
	status, _, body := s.do(t, "GET", "/v2/models/rowid/versions/2/ready", nil, nil)
	if status != 200 {
		t.Errorf("version 2 after one interval: %d %s", status, body)
	}
	// A changed file under the same version number is reloaded too.
	b, _ := os.ReadFile(ortest.Fixture(t, "rowid"))
	s.writeVersion(t, "rowid", "2", append(b, 0)) // same graph, trailing byte: new content
	ticks <- time.Now()
	ticks <- time.Now()
	if st := s.reg.Index(false); len(st) == 0 {
		t.Fatal("empty index")
	}
	status, _, body = s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil)
	if status != 200 {
		t.Errorf("after reloading changed version 2: %d %s", status, body)
	}
}

func TestLoadAndUnloadAPI(t *testing.T) {
	s := startServerMode(t, server.DefaultConfig(), registry.ModeExplicit, "rowid", "student-success")
	status, _, body := s.do(t, "POST", "/v2/repository/models/rowid/unload", []byte(`{"parameters":{"unload_dependents":true}}`), nil)
	if status != 200 {
		t.Fatalf("unload: %d %s", status, body)
	}
	if status, _, _ := s.do(t, "GET", "/v2/models/rowid/ready", nil, nil); status == 200 {
		t.Error("model still ready after unload")
	}
	status, _, body = s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil)
	if status != 503 && status != 404 || !strings.Contains(string(body), "unloaded") {
		t.Errorf("infer after unload: %d %s, want 404/503", status, body)
	}
	if status, _, _ := s.do(t, "GET", "/v2/health/ready", nil, nil); status != 200 {
		t.Error("server not ready after an intended unload")
	}
	if e := s.index(t, "")["rowid/1"]; e.State != registry.StateUnavailable || !strings.Contains(e.Reason, "repository API") {
		t.Errorf("index after unload: %+v", e)
	}
	// Load again, with a configuration that replaces config.yaml.
	status, _, body = s.do(t, "POST", "/v2/repository/models/rowid/load", []byte(`{"parameters":{"config":"{\"max_batch_size\": 4, \"instances\": 1}"}}`), nil)
	if status != 200 {
		t.Fatalf("load: %d %s", status, body)
	}
	status, _, body = s.do(t, "POST", "/v2/models/rowid/infer", []byte(`{"inputs":[{"name":"x","shape":[5,4],"datatype":"FP32","data":[1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4]}]}`), nil)
	if status != 400 || !strings.Contains(string(body), "max_batch_size 4") {
		t.Errorf("the config override did not apply: %d %s", status, body)
	}
	for _, tt := range []struct {
		path, body string
		status     int
		msg        string
	}{
		{"/v2/repository/models/nope/load", "{}", 404, "not found"},
		{"/v2/repository/models/nope/unload", "", 404, "not loaded"},
		{"/v2/repository/models/rowid/load", `{"parameters":{"config":"{\"max_batch\": 4}"}}`, 400, "max_batch"},
		{"/v2/repository/models/rowid/load", `{"parameters":`, 400, "request body"},
	} {
		status, _, body := s.do(t, "POST", tt.path, []byte(tt.body), nil)
		if status != tt.status || !strings.Contains(string(body), tt.msg) {
			t.Errorf("POST %s %s: %d %s, want %d with %q", tt.path, tt.body, status, body, tt.status, tt.msg)
		}
	}
	// After a rejected override, the model loaded before still serves.
	if status, _, body := s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, nil); status != 200 {
		t.Errorf("after a rejected load: %d %s", status, body)
	}
}
