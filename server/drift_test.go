package server_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
)

// studentRows draws n rows of the student model's eight features, each
// uniform in [lo, hi).
func studentRows(rng *rand.Rand, n int, lo, hi float64) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, 8)
		for j := range rows[i] {
			rows[i][j] = lo + (hi-lo)*rng.Float64()
		}
	}
	return rows
}

// featuresCall is a v2 JSON call of rows to a student model.
func featuresCall(rows [][]float64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"inputs":[{"name":"features","shape":[%d,8],"datatype":"FP32","data":[`, len(rows))
	for i, r := range rows {
		for j, x := range r {
			if i+j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(x, 'g', 7, 32))
		}
	}
	b.WriteString("]}]}")
	return []byte(b.String())
}

// writeStudentCard profiles rows as training data of student-success
// version 1 in repo: the features as drawn, the outputs as version 1
// answers them, and writes the profile in the version's model card.
func writeStudentCard(t testing.TB, repo string, rows [][]float64) {
	t.Helper()
	cfg := registry.DefaultConfig()
	cfg.Path, cfg.ControlMode = repo, registry.ModeNone
	reg, err := registry.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	if err := reg.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := reg.Lookup("student-success", "1")
	if err != nil {
		t.Fatal(err)
	}
	cols := make([][]float64, 8)
	outs := map[string][]float64{}
	for start := 0; start < len(rows); start += 50 { // max_batch_size is 64
		chunk := rows[start:min(start+50, len(rows))]
		var data []byte
		for _, r := range chunk {
			for j, x := range r {
				data = appendFloat32(data, x)
				cols[j] = append(cols[j], float64(float32(x)))
			}
		}
		in := tensor.Tensor{Name: "features", DataType: tensor.FP32, Shape: []int64{int64(len(chunk)), 8}, Data: data}
		resp, err := v.Infer(context.Background(), &tensor.Request{Inputs: []tensor.Tensor{in}})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range resp.Outputs {
			for i := 0; i < len(o.Data); i += o.DataType.Size() {
				outs[o.Name] = append(outs[o.Name], tensor.Element(o.DataType, o.Data[i:]))
			}
		}
	}
	p := profile.Profile{Input: "features", Rows: int64(len(rows))}
	for j, c := range cols {
		p.Features = append(p.Features, profile.NumericFeature(fmt.Sprintf("f%d", j), j, c, profile.DefaultBins))
	}
	p.Outputs = []profile.Feature{
		profile.FixedFeature("probability", 0, profile.Score, outs["probability"], []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}),
		profile.ClassFeature("label", 0, outs["label"], 2),
	}
	b, err := json.Marshal(map[string]any{"model": "student-success", "version": 1, "profile": p})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "student-success", "1", registry.CardFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFloat32(b []byte, x float64) []byte {
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
}

// driftServer is a server over student-success whose version 1 has a
// card with a training profile of 4,000 rows uniform in [0, 1) and whose
// config.yaml has a drift section (one-second slots over ten, 500 rows to
// judge, a trigger after 3s to webhook); the monitor is evaluated by hand.
func driftServer(t *testing.T, cfg server.Config, webhook string) (*testServer, *drift.Monitor) {
	t.Helper()
	var mon *drift.Monitor
	s := startServerWith(t, cfg, registry.ModePoll, serverHooks{
		prepare: func(repo string) {
			writeStudentCard(t, repo, studentRows(rand.New(rand.NewPCG(1, 2)), 4000, 0, 1))
			path := filepath.Join(repo, "student-success", "config.yaml")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, "drift:\n  window: 10s\n  slots: 10\n  min_rows: 500\n  trigger:\n    drifting_for: 3s\n    webhook: '"+webhook+"'\n"...)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		attach: func(repo string, reg *registry.Registry, srv *server.Server, promReg *prometheus.Registry) func() {
			reg.CheckDriftSpecs(drift.CheckConfig)
			dcfg := drift.DefaultConfig()
			dcfg.Source = "/sluice/test"
			var err error
			if mon, err = drift.New(reg, dcfg, filepath.Join(repo, ".sluice", "drift"), slog.New(slog.NewTextHandler(io.Discard, nil)), promReg); err != nil {
				t.Fatal(err)
			}
			srv.WithDrift(mon)
			return mon.Close
		},
	}, "student-success")
	return s, mon
}

// events is a CloudEvents receiver that keeps what it gets.
type events struct {
	*httptest.Server
	mu  sync.Mutex // guards got
	got []drift.Event
}

func newEvents(t *testing.T) *events {
	e := &events{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev drift.Event
		if r.Header.Get("Content-Type") != "application/cloudevents+json; charset=utf-8" || json.NewDecoder(r.Body).Decode(&ev) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.got = append(e.got, ev)
		e.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *events) received() []drift.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]drift.Event(nil), e.got...)
}

func (s *testServer) driftView(t *testing.T) drift.ModelView {
	t.Helper()
	status, _, body := s.do(t, "GET", "/v2/admin/models/student-success/drift", nil, nil)
	if status != 200 {
		t.Fatalf("drift: %d %s", status, body)
	}
	var mv drift.ModelView
	if err := json.Unmarshal(body, &mv); err != nil {
		t.Fatalf("drift: %v in %s", err, body)
	}
	return mv
}

// send makes calls of 50 rows each drawn uniform in [lo, hi) to the
// model's traffic (version 1).
func (s *testServer) send(t *testing.T, rng *rand.Rand, calls int, lo, hi float64) {
	t.Helper()
	for range calls {
		status, _, body := s.do(t, "POST", "/v2/models/student-success/infer", featuresCall(studentRows(rng, 50, lo, hi)), nil)
		if status != 200 {
			t.Fatalf("infer: %d %s", status, body)
		}
	}
}

// TestVersionDriftsWhenCallsShift: real calls through the server feed
// version 1's live profile; in-distribution calls leave it ok, calls whose
// features crowd into the upper half of their range drift it, and a
// drifting episode sends exactly one CloudEvent.
func TestVersionDriftsWhenCallsShift(t *testing.T) {
	hook := newEvents(t)
	s, mon := driftServer(t, server.DefaultConfig(), hook.URL)
	ctx, rng := context.Background(), rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2025, 6, 10, 6, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

	mon.Evaluate(ctx, at(0))
	s.send(t, rng, 20, 0, 1)
	mon.Evaluate(ctx, at(1))
	mv := s.driftView(t)
	if len(mv.Versions) != 2 || mv.Scope != "replica" {
		t.Fatalf("drift view %+v, want versions 1 and 2 of one replica", mv)
	}
	v1, v2 := mv.Versions[0], mv.Versions[1]
	if !v1.Monitored || v1.State != "ok" || v1.Window.Rows != 1000 || len(v1.Features) != 8 || len(v1.Outputs) != 2 {
		t.Fatalf("version 1 after in-distribution calls: %+v", v1)
	}
	for _, f := range append(v1.Features, v1.Outputs...) {
		if f.PSI >= 0.1 || f.State != "ok" {
			t.Errorf("in distribution, %s: PSI %.3f KS %.3f %s", f.Name, f.PSI, f.KS, f.State)
		}
	}
	if v2.Monitored || !strings.Contains(v2.Note, "no model card") {
		t.Errorf("version 2 has no card: %+v", v2)
	}

	mon.Evaluate(ctx, at(12)) // the window has moved past those calls
	s.send(t, rng, 20, 0.5, 1)
	mon.Evaluate(ctx, at(13))
	v1 = s.driftView(t).Versions[0]
	if v1.State != "drifting" || v1.DriftingSince == nil || !v1.DriftingSince.Equal(at(13)) {
		t.Fatalf("version 1 after shifted calls: %+v", v1)
	}
	for _, f := range v1.Features {
		if f.State != "drifting" || f.Mean < 0.7 || f.TrainMean > 0.55 {
			t.Errorf("shifted feature %s: %+v", f.Name, f)
		}
	}
	for sec := 14; sec <= 20; sec++ {
		mon.Evaluate(ctx, at(sec))
	}
	waitFor(t, "the trigger sent", func() bool {
		lt := s.driftView(t).LastTrigger
		return lt != nil && lt.Outcome == drift.OutcomeSent
	})
	for sec := 21; sec <= 22; sec++ { // the window holds the shifted calls until 23
		mon.Evaluate(ctx, at(sec))
	}
	mon.Close() // waits for any delivery still in flight
	got := hook.received()
	if len(got) != 1 {
		t.Fatalf("%d events for one drifting episode, want 1", len(got))
	}
	ev := got[0]
	if ev.Type != drift.EventType || ev.SpecVersion != "1.0" || ev.Source != "/sluice/test" || ev.Subject != "student-success/versions/1" ||
		ev.ID != fmt.Sprintf("student-success-1-%d", at(13).Unix()) || ev.Data.Model != "student-success" || ev.Data.Version != 1 ||
		ev.Data.State != "drifting" || len(ev.Data.Features) != 8 || !strings.Contains(ev.Data.Reason, "f0 PSI") {
		t.Errorf("event %+v", ev)
	}
	_, _, metrics := s.do(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{
		`sluice_drift_triggers_total{model="student-success",outcome="sent",reason="drifting"} 1`,
		`sluice_drift_state{model="student-success",state="drifting",version="1"} 1`,
		`sluice_drift_window_rows{model="student-success",version="1"} 1000`,
		`sluice_drift_sampled_rows_total{model="student-success",version="1"} 2000`,
		`sluice_drift_psi{feature="output:probability",model="student-success",version="1"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestDriftRoute: the drift view is an admin route; it answers 404 for a
// model the server does not know and when no monitor runs.
func TestDriftRoute(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.AdminToken = "s3cret"
	s, mon := driftServer(t, cfg, "")
	mon.Evaluate(context.Background(), time.Now())
	bearer := map[string]string{"Authorization": "Bearer s3cret"}
	tests := []struct {
		name, path string
		hdr        map[string]string
		status     int
		want       string
	}{
		{"a known model", "/v2/admin/models/student-success/drift", bearer, 200, `"model":"student-success"`},
		{"no token", "/v2/admin/models/student-success/drift", nil, 401, "admin_token"},
		{"a wrong token", "/v2/admin/models/student-success/drift", map[string]string{"Authorization": "Bearer guess"}, 403, "not the admin token"},
		{"an unknown model", "/v2/admin/models/absent/drift", bearer, 404, `model \"absent\" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := s.do(t, "GET", tt.path, nil, tt.hdr)
			if status != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("GET %s: %d %s, want %d with %s", tt.path, status, body, tt.status, tt.want)
			}
		})
	}
	status, _, body := s.do(t, "POST", "/v2/admin/models/student-success/drift", nil, bearer)
	if status != 405 {
		t.Errorf("POST: %d %s, want 405", status, body)
	}
	plain := startServer(t, server.DefaultConfig(), "student-success")
	status, _, body = plain.do(t, "GET", "/v2/admin/models/student-success/drift", nil, nil)
	if status != 404 || !strings.Contains(string(body), "drift monitoring is not running") {
		t.Errorf("without a monitor: %d %s", status, body)
	}
}
