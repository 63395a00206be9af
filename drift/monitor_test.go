package drift

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// model is one model of a test repository: the student model's file, a
// config.yaml and, when card is not nil, a model card holding it.
type model struct {
	config string
	card   any
}

// studentRepo lays out a repository of student models and loads it as
// the server does, drift sections checked.
func studentRepo(t *testing.T, models map[string]model) (*registry.Registry, string) {
	t.Helper()
	ortest.Init(t)
	dir := t.TempDir()
	onnx, err := os.ReadFile(ortest.Path(t, "models/student-success/1/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range models {
		writeFile(t, filepath.Join(dir, name, "1", "model.onnx"), onnx)
		writeFile(t, filepath.Join(dir, name, "config.yaml"), []byte(m.config))
		if m.card != nil {
			b, err := json.Marshal(m.card)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, name, "1", registry.CardFile), b)
		}
	}
	cfg := registry.DefaultConfig()
	cfg.Path = dir
	reg, err := registry.New(cfg, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.CheckDriftSpecs(CheckConfig)
	if err := reg.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	return reg, dir
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// card is a model card holding p as its profile.
func card(p *profile.Profile) map[string]any {
	return map[string]any{"model": "student-success", "profile": p}
}

// driftConfig is a config.yaml whose drift section has one-second slots
// over ten, 500 rows to judge, and a trigger after 3s to webhook.
func driftConfig(webhook string) string {
	return "drift:\n  window: 10s\n  slots: 10\n  min_rows: 500\n  trigger:\n    drifting_for: 3s\n    cooldown: 1h\n    webhook: '" + webhook + "'\n"
}

func newMonitor(t *testing.T, reg Models, dir string, promReg prometheus.Registerer) *Monitor {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Source, cfg.WebhookToken = "/sluice/test", "tok"
	m, err := New(reg, cfg, dir, quiet(), promReg)
	if err != nil {
		t.Fatal(err)
	}
	m.hook.backoff, m.retryAfter = time.Millisecond, 5*time.Second
	m.delivered = make(chan struct{}, 1)
	t.Cleanup(m.Close)
	return m
}

// feed samples calls of 50 rows drawn with shift into version 1 of name,
// through the sampler the monitor attached, as the request path does.
func feed(t *testing.T, reg *registry.Registry, name string, rng *rand.Rand, rows int, shift float64) {
	t.Helper()
	v, err := reg.Lookup(name, "1")
	if err != nil {
		t.Fatal(err)
	}
	s := v.Sampler()
	if s == nil {
		t.Fatalf("model %q version 1 has no sampler attached", name)
	}
	for range rows / 50 {
		in, out := studentCall(rng, 50, shift)
		s.Sample(in, out)
	}
}

// waitIdle waits until no delivery is in flight: each delivery signals
// m.delivered as it ends, and a signal pending from an earlier one only
// makes it look again.
func waitIdle(t *testing.T, m *Monitor) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for busy(m) {
		select {
		case <-m.delivered:
		case <-deadline.C:
			t.Fatal("a trigger's delivery did not end")
		}
	}
}

// busy reports whether a delivery is in flight.
func busy(m *Monitor) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.watched {
		if w.sending {
			return true
		}
	}
	return false
}

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func view(t *testing.T, m *Monitor, name string) ModelView {
	t.Helper()
	mv, err := m.View(name)
	if err != nil {
		t.Fatal(err)
	}
	return mv
}

func TestMonitorAttachesWhatItCan(t *testing.T) {
	p, _ := studentProfile(t)
	misfit := *p
	misfit.Input = "x"
	reg, dir := studentRepo(t, map[string]model{
		"watched":   {driftConfig(""), card(p)},
		"nodrift":   {"max_batch_size: 8\n", card(p)},
		"nocard":    {driftConfig(""), nil},
		"noprofile": {driftConfig(""), map[string]any{"model": "noprofile"}},
		"misfit":    {driftConfig(""), card(&misfit)},
	})
	m := newMonitor(t, reg, dir, nil)
	if mv := view(t, m, "watched"); len(mv.Versions) != 1 || mv.Versions[0].Note != "not evaluated yet" {
		t.Errorf("before the first evaluation: %+v", mv)
	}
	m.Evaluate(context.Background(), at(0))
	notes := map[string]string{
		"nodrift":   "no drift section",
		"nocard":    "no model card",
		"noprofile": "no training profile",
		"misfit":    `does not fit the model: the profile's input "x"`,
	}
	for name, note := range notes {
		mv := view(t, m, name)
		v, _ := reg.Lookup(name, "1")
		if len(mv.Versions) != 1 || mv.Versions[0].Monitored || !strings.Contains(mv.Versions[0].Note, note) || v.Sampler() != nil {
			t.Errorf("%s: %+v (sampler %v), want version 1 not monitored, saying %q", name, mv, v.Sampler(), note)
		}
	}
	mv := view(t, m, "watched")
	v, _ := reg.Lookup("watched", "1")
	if got := mv.Versions[0]; !got.Monitored || got.State != StateOK || !strings.Contains(got.Note, "collecting") || v.Sampler() == nil ||
		mv.Scope != ScopeReplica || len(got.Features) != 8 || len(got.Outputs) != 2 || got.Window.Rows != 0 {
		t.Errorf("watched: %+v", mv)
	}
	if _, err := m.View("absent"); err == nil || tensor.KindOf(err) != tensor.NotFound || !strings.Contains(err.Error(), `"absent"`) {
		t.Errorf("an unknown model: %v, want NotFound naming it", err)
	}
}

// TestMonitorTriggersOncePerEpisode drives one version from ok to
// drifting with injected times: one event when it has drifted for
// drifting_for, none more in the episode, a later episode coalesced inside
// the cooldown, and a restarted monitor that does not send the first
// episode again.
func TestMonitorTriggersOncePerEpisode(t *testing.T) {
	p, _ := studentProfile(t)
	hook := newReceiver(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(hook.URL), card(p)}})
	state := filepath.Join(dir, ".sluice", "drift")
	promReg := prometheus.NewRegistry()
	m := newMonitor(t, reg, state, promReg)
	ctx, rng := context.Background(), newRand(3)

	m.Evaluate(ctx, at(0))
	feed(t, reg, "student", rng, 1000, 0)
	m.Evaluate(ctx, at(1))
	v := view(t, m, "student").Versions[0]
	if v.State != StateOK || v.Note != "" || v.Window.Rows != 1000 {
		t.Fatalf("in-distribution calls: %+v", v)
	}
	for _, f := range append(v.Features, v.Outputs...) {
		if f.PSI >= 0.1 || f.State != StateOK {
			t.Errorf("in distribution, %s: PSI %.3f %s", f.Name, f.PSI, f.State)
		}
	}

	m.Evaluate(ctx, at(12)) // the window has moved past those calls
	feed(t, reg, "student", rng, 1000, 0.5)
	for s := 13; s <= 15; s++ {
		m.Evaluate(ctx, at(s))
	}
	v = view(t, m, "student").Versions[0]
	if v.State != StateDrifting || v.Window.Rows != 1000 || !v.DriftingSince.Equal(at(13)) || len(hook.received()) != 0 {
		t.Fatalf("shifted calls, 2s into the episode: %+v, %d events", v, len(hook.received()))
	}
	m.Evaluate(ctx, at(16))
	waitIdle(t, m)
	for s := 17; s <= 19; s++ {
		m.Evaluate(ctx, at(s))
	}
	waitIdle(t, m)
	got := hook.received()
	if len(got) != 1 {
		t.Fatalf("%d events for one episode, want 1", len(got))
	}
	ev := got[0].event
	if wantID := "student-1-" + itoa(at(13).Unix()); ev.ID != wantID || ev.Subject != "student/versions/1" || ev.Source != "/sluice/test" ||
		got[0].auth != "Bearer tok" || ev.Data.State != StateDrifting || !strings.Contains(ev.Data.Reason, "version 1 drifting for 3s: ") {
		t.Errorf("event %+v (authorization %q)", ev, got[0].auth)
	}
	mv := view(t, m, "student")
	v = mv.Versions[0]
	if lt := mv.LastTrigger; lt == nil || lt.ID != ev.ID || lt.Outcome != OutcomeSent {
		t.Errorf("last trigger %+v, want event %s sent", lt, ev.ID)
	}
	var rec Trigger
	if b, err := os.ReadFile(filepath.Join(state, "student.json")); err != nil || json.Unmarshal(b, &rec) != nil || rec.ID != ev.ID || rec.Outcome != OutcomeSent {
		t.Errorf("trigger record %+v, %v", rec, err)
	}
	checkMetrics(t, promReg, map[string]float64{
		`sluice_drift_state{model="student",state="drifting",version="1"}`:              1,
		`sluice_drift_state{model="student",state="ok",version="1"}`:                    0,
		`sluice_drift_state{model="student",state="warn",version="1"}`:                  0,
		`sluice_drift_window_rows{model="student",version="1"}`:                         1000,
		`sluice_drift_sampled_rows_total{model="student",version="1"}`:                  2000,
		`sluice_drift_triggers_total{model="student",outcome="sent",reason="drifting"}`: 1,
		`sluice_drift_psi{feature="output:probability",model="student",version="1"}`:    v.Outputs[0].PSI,
		`sluice_drift_ks{feature="sem1_grade",model="student",version="1"}`:             ksOf(v, "sem1_grade"),
	})
	if n := len(gather(t, promReg, "sluice_drift_psi")) + len(gather(t, promReg, "sluice_drift_ks")); n != 2*10 {
		t.Errorf("%d psi and ks series, want 2 × (8 features + 2 outputs)", n)
	}

	// The episode ends as the window moves past the shifted calls; the
	// next one, inside the hour's cooldown, is coalesced.
	m.Evaluate(ctx, at(30))
	if v := view(t, m, "student").Versions[0]; v.State != StateOK || v.DriftingSince != nil {
		t.Fatalf("an empty window: %+v", v)
	}
	feed(t, reg, "student", rng, 1000, 0.5)
	for s := 31; s <= 36; s++ {
		m.Evaluate(ctx, at(s))
	}
	waitIdle(t, m)
	if n := len(hook.received()); n != 1 || count(t, m, "student", OutcomeCoalesced) != 1 {
		t.Errorf("a second episode inside the cooldown: %d events, want it coalesced", n)
	}
	if lt := view(t, m, "student").LastTrigger; lt == nil || lt.Outcome != OutcomeCoalesced || lt.ID != "student-1-"+itoa(at(31).Unix()) {
		t.Errorf("last trigger %+v, want the second episode coalesced", lt)
	}

	// A restarted monitor sees the first episode again, at the same
	// window ends: the record says its event went out.
	m2 := newMonitor(t, reg, state, nil)
	m2.Evaluate(ctx, at(12))
	feed(t, reg, "student", rng, 1000, 0.5)
	for s := 13; s <= 17; s++ {
		m2.Evaluate(ctx, at(s))
	}
	waitIdle(t, m2)
	if n := len(hook.received()); n != 1 || count(t, m2, "student", OutcomeCoalesced) != 0 {
		t.Errorf("after a restart, the episode already sent: %d events, want none more and nothing coalesced", n)
	}
}

// TestMonitorRetriesAFailedTrigger: a webhook that fails every attempt
// leaves the cooldown unstarted, and the episode tries again after
// retryAfter; with no webhook, a trigger is logged and counted.
func TestMonitorRetriesAFailedTrigger(t *testing.T) {
	p, _ := studentProfile(t)
	hook := newReceiver(t, 500, 500, 500)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(hook.URL), card(p)}, "quiet": {driftConfig(""), card(p)}})
	m := newMonitor(t, reg, dir, nil)
	ctx, rng := context.Background(), newRand(4)
	m.Evaluate(ctx, at(0))
	feed(t, reg, "student", rng, 1000, 0.5)
	feed(t, reg, "quiet", rng, 1000, 0.5)
	for s := 1; s <= 4; s++ {
		m.Evaluate(ctx, at(s))
	}
	waitIdle(t, m)
	if n := len(hook.received()); n != 3 || count(t, m, "student", OutcomeFailed) != 1 {
		t.Fatalf("%d attempts, want 3 and the trigger failed", n)
	}
	if lt := view(t, m, "quiet").LastTrigger; lt == nil || lt.Outcome != OutcomeLogged {
		t.Errorf("no webhook: last trigger %+v, want it logged", lt)
	}
	m.Evaluate(ctx, at(8)) // before retryAfter (5s after at(4))
	waitIdle(t, m)
	if n := len(hook.received()); n != 3 {
		t.Fatalf("%d attempts before retryAfter, want 3", n)
	}
	m.Evaluate(ctx, at(9))
	waitIdle(t, m)
	got := hook.received()
	if len(got) != 4 || got[3].event.ID != got[0].event.ID || count(t, m, "student", OutcomeSent) != 1 {
		t.Errorf("%d attempts, want a 4th, with the episode's id, sent", len(got))
	}
}

// TestMonitorKeepsWindowsAcrossReload: editing the drift section's
// thresholds reloads the version; its live profile carries on.
func TestMonitorKeepsWindowsAcrossReload(t *testing.T) {
	p, _ := studentProfile(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(""), card(p)}})
	m := newMonitor(t, reg, dir, nil)
	ctx := context.Background()
	m.Evaluate(ctx, at(0))
	old, _ := reg.Lookup("student", "1")
	live := old.Sampler()
	feed(t, reg, "student", newRand(5), 600, 0)
	writeFile(t, filepath.Join(dir, "student", "config.yaml"), []byte(driftConfig("")+"  psi: {warn: 0.2, drifting: 0.3}\n"))
	if err := reg.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	nv, _ := reg.Lookup("student", "1")
	if nv == old || nv.Sampler() != nil {
		t.Fatalf("the edit did not reload the version")
	}
	m.Evaluate(ctx, at(1))
	v := view(t, m, "student").Versions[0]
	if nv.Sampler() != live || v.Window.Rows != 600 || v.Thresholds.PSI.Warn != 0.2 {
		t.Errorf("after the reload: sampler kept %v, %+v", nv.Sampler() == live, v)
	}
}

// TestMonitorRunsOnTicks: Run evaluates on each tick it is given and
// returns when its context ends.
func TestMonitorRunsOnTicks(t *testing.T) {
	p, _ := studentProfile(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(""), card(p)}})
	m := newMonitor(t, reg, dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, ticks) }()
	// Run takes a tick only once it has finished evaluating the one before.
	ticks <- at(0)
	ticks <- at(0)
	feed(t, reg, "student", newRand(6), 600, 0)
	ticks <- at(1)
	ticks <- at(1)
	if v := view(t, m, "student").Versions[0]; !v.Monitored || v.Window.Rows != 600 {
		t.Errorf("after two ticks: %+v", v)
	}
	cancel()
	<-done
}
