package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/coordination/etcdtest"
	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/pipeline"
	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/runtime/ortest"
)

// The loop, as a user would run it: the pipeline publishes
// student-success version 1 with its training profile; sluice serve
// monitors it; calls drawn from the training distribution keep it ok;
// calls from a shifted term (lower grades, fewer course units passed) make
// it drift; after drifting_for one CloudEvent goes to sluice pipeline
// watch, which runs the pipeline on the new term's data, and version 2
// comes up as a canary.
func TestDriftClosesTheLoop(t *testing.T) {
	ortest.Init(t)
	t.Setenv(asMain, "1") // the watcher's child `pipeline run` is this binary
	incoming, retrainDir := t.TempDir(), t.TempDir()
	trainCSV, nextTerm := termData(t, incoming)
	// The webhook: counts the CloudEvents and hands each to the watcher,
	// whose address is known only once it listens.
	var events atomic.Int32
	var firstEvent atomic.Int64
	var watcher atomic.Pointer[url.URL]
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			SpecVersion string `json:"specversion"`
			Type        string `json:"type"`
			ID          string `json:"id"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.SpecVersion != "1.0" || ev.Type != "io.sluice.drift.drifting" || ev.ID == "" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents+json") {
			t.Errorf("not a drift CloudEvent (%v): %s %s", err, r.Header.Get("Content-Type"), body)
		}
		if events.Add(1) == 1 {
			firstEvent.Store(time.Now().UnixNano())
		}
		to := watcher.Load()
		if to == nil {
			http.Error(w, "the watcher is not listening yet", http.StatusServiceUnavailable)
			return
		}
		resp, err := http.Post(to.String(), r.Header.Get("Content-Type"), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(receiver.Close)

	repo := driftRepo(t, trainCSV, receiver.URL)
	base := "http://" + startServe(t, repo, "-drift.interval", "100ms")

	// sluice pipeline watch, retraining into the same repository and
	// asking the gateway for a canary. The new term's model is judged on
	// the new term's test split, against version 1's AUC on the old term's.
	logs := &watchLines{addr: make(chan string, 1)}
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() {
		wdone <- pipelineCmd(wctx, []string{"watch", "-data-dir", incoming, "-listen", "127.0.0.1:0", "-poll", "100ms", "-cooldown", "1h",
			"-log-format", "json", "--", "-run", retrainDir, "-repository", repo, "-gateway", base, "-kind", "logreg", "-seed", "1", "-max-auc-drop", "0.2"},
			os.Environ(), &bytes.Buffer{}, logs)
	}()
	t.Cleanup(func() {
		wcancel()
		if err := <-wdone; err != nil {
			t.Errorf("pipeline watch returned %v", err)
		}
	})
	select {
	case addr := <-logs.addr:
		watcher.Store(&url.URL{Scheme: "http", Host: addr})
	case err := <-wdone:
		t.Fatalf("pipeline watch returned before it listened: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline watch never said where it listens")
	}

	c := client.New(base, 8)
	defer c.CloseIdle()
	replay := startReplay(t, c, rowsOf(t, trainCSV))
	before := waitDrift(t, base, 60*time.Second, func(v drift.VersionView) bool {
		return v.Window != nil && v.Window.Rows >= 1000 && v.Note == ""
	})
	if before.State == "drifting" || events.Load() != 0 {
		t.Fatalf("calls drawn from the training data: state %s, %d events; %+v", before.State, events.Load(), before.Features)
	}
	logSignals(t, "training distribution", before)

	replay.stop()
	shiftAt := time.Now()
	replay = startReplay(t, c, rowsOf(t, nextTerm))
	defer replay.stop()
	after := waitDrift(t, base, 60*time.Second, func(v drift.VersionView) bool { return v.State == "drifting" })
	logSignals(t, "shifted term", after)
	for deadline := time.Now().Add(60 * time.Second); events.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drifting version sent no event")
		}
	}
	t.Logf("from the shift to the trigger: %v (window 3s, drifting_for 1s, drift.interval 100ms)",
		time.Unix(0, firstEvent.Load()).Sub(shiftAt).Round(10*time.Millisecond))

	// The watcher's run publishes version 2 and the gateway starts its
	// canary rollout.
	fin := logs.waitFor(t, "retraining run finished", 1, 3*time.Minute)
	if fin[0]["outcome"] != "ok" || fin[0]["file"] != nextTerm {
		t.Fatalf("the retraining run: %v; its output:\n%v", fin[0], logs.with("pipeline run"))
	}
	status, err := statusOf(base)
	if err != nil || status.Canary != 2 || status.State != "progressing" {
		t.Fatalf("rollout after the retraining run: %+v, %v", status, err)
	}
	var card struct {
		Parent  int64 `json:"parent"`
		Profile struct {
			Features []struct {
				Name string  `json:"name"`
				Mean float64 `json:"mean"`
			} `json:"features"`
		} `json:"profile"`
	}
	if err := c.ModelCard(context.Background(), "student-success", "2", &card); err != nil || card.Parent != 1 {
		t.Fatalf("version 2's card: %+v, %v", card, err)
	}
	for _, f := range card.Profile.Features {
		for _, g := range before.Features {
			if f.Name == "sem1_grade" && g.Name == f.Name && !(f.Mean < g.TrainMean) {
				t.Errorf("version 2 was trained on sem1_grade mean %.2f, not below version 1's %.2f", f.Mean, g.TrainMean)
			}
		}
	}
	// One episode, one event: the drift goes on, the cooldown holds.
	if n := events.Load(); n != 1 {
		t.Errorf("%d drift events, want 1", n)
	}
	metrics := get(t, base+"/metrics")
	if !strings.Contains(metrics, `sluice_drift_triggers_total{model="student-success",outcome="sent",reason="drifting"} 1`) {
		t.Errorf("no sent trigger counted in /metrics:\n%s", grepLines(metrics, "sluice_drift_triggers_total"))
	}
}

// termData writes this term's students (the training data) and next
// term's into dir (lower grades, fewer course units passed).
func termData(t *testing.T, dir string) (trainCSV, nextTerm string) {
	trainCSV = filepath.Join(t.TempDir(), "students.csv")
	nextTerm = filepath.Join(dir, "next-term.csv")
	for _, args := range [][]string{
		{"gen-data", "-out", trainCSV, "-rows", "3000", "-seed", "7"},
		{"gen-data", "-out", nextTerm, "-rows", "3000", "-seed", "8", "-ability-shift", "-1", "-pass-shift", "-1.5"},
	} {
		if out, err := pipelineRun(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	return trainCSV, nextTerm
}

// driftRepo is a repository whose student-success has the shipped
// config, a drift section with a short window (so a test takes seconds)
// sending to webhook, and version 1 published by the pipeline from
// trainCSV with its training profile.
func driftRepo(t *testing.T, trainCSV, webhook string) string {
	repo := t.TempDir()
	shipped, err := os.ReadFile(ortest.Path(t, "models/student-success/config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(shipped) + `
drift:
  window: 3s
  slots: 3
  min_rows: 300
  trigger:
    webhook: ` + webhook + `
    drifting_for: 1s
    cooldown: 1h
`
	if err := os.MkdirAll(filepath.Join(repo, "student-success"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "student-success", "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := pipelineRun(t, "run", "-run", t.TempDir(), "-data", trainCSV, "-repository", repo, "-kind", "logreg", "-seed", "1"); err != nil {
		t.Fatalf("publishing version 1: %v\n%s", err, out)
	}
	return repo
}

// replayer sends rows to student-success until stopped.
type replayer struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (r *replayer) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

func startReplay(t *testing.T, c *client.Client, rows [][]float64) *replayer {
	ctx, cancel := context.WithCancel(context.Background())
	r := &replayer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			if err := pipeline.Replay(ctx, c, "student-success", rows, len(rows), 4); err != nil && ctx.Err() == nil {
				t.Errorf("replay: %v", err)
				return
			}
		}
	}()
	return r
}

func rowsOf(t *testing.T, csv string) [][]float64 {
	f, err := os.Open(csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ds, _, err := data.Records(f, false)
	if err != nil {
		t.Fatal(err)
	}
	return ds.X
}

// waitDrift polls version 1's drift until ok says it is what the test waits for.
func waitDrift(t *testing.T, base string, within time.Duration, ok func(drift.VersionView) bool) drift.VersionView {
	t.Helper()
	return waitDriftView(t, base, within, func(_ drift.ModelView, v drift.VersionView) bool { return ok(v) })
}

// waitDriftView polls the model's drift view until ok says so of it and
// version 1's part of it.
func waitDriftView(t *testing.T, base string, within time.Duration, ok func(drift.ModelView, drift.VersionView) bool) drift.VersionView {
	t.Helper()
	var last drift.VersionView
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var view drift.ModelView
		if err := json.Unmarshal([]byte(get(t, base+"/v2/admin/models/student-success/drift")), &view); err != nil {
			t.Fatal(err)
		}
		for _, v := range view.Versions {
			if v.Version == 1 {
				last = v
				if ok(view, v) {
					return v
				}
			}
		}
	}
	t.Fatalf("version 1's drift at %s never got there; last: %+v", base, last)
	return last
}

func logSignals(t *testing.T, label string, v drift.VersionView) {
	var b strings.Builder
	for _, f := range append(append([]drift.FeatureView(nil), v.Features...), v.Outputs...) {
		b.WriteString("\n  ")
		b.WriteString(f.Name + ": PSI " + ftoa3(f.PSI) + ", KS " + ftoa3(f.KS) + ", mean " + ftoa3(f.Mean) + " (train " + ftoa3(f.TrainMean) + "), " + f.State)
	}
	t.Logf("%s: state %s over %d rows%s", label, v.State, v.Window.Rows, b.String())
}

func ftoa3(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s, %v", u, resp.StatusCode, b, err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Two replicas in a fleet (embedded etcd), both taking next term's calls:
// each judges the fleet's merged window, and only the leader sends the
// trigger: one event for the fleet.
func TestFleetDriftSendsOneTrigger(t *testing.T) {
	ortest.Init(t)
	cluster := etcdtest.Start(t, 1)
	var mu sync.Mutex
	var sources, ids []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Source string `json:"source"`
			ID     string `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("event: %v", err)
		}
		mu.Lock()
		sources, ids = append(sources, ev.Source), append(ids, ev.ID)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(receiver.Close)
	trainCSV, nextTerm := termData(t, t.TempDir())
	repoA := driftRepo(t, trainCSV, receiver.URL)
	repoB := t.TempDir()
	if err := os.CopyFS(repoB, os.DirFS(repoA)); err != nil {
		t.Fatal(err)
	}
	// Each replica is a process of its own, as in a fleet: a process holds
	// one ONNX Runtime environment, which a serve destroys when it stops.
	t.Setenv(asMain, "1")
	serve := func(repo, replica string) string {
		p, err := startProcess(context.Background(), "serve", "-server.addr", "127.0.0.1:0", "-server.grpc_addr", "",
			"-log.format", "json", "-repository.path", repo, "-drift.interval", "100ms",
			"-coordination.endpoints", strings.Join(cluster.AllEndpoints(), ","), "-coordination.replica", replica,
			"-coordination.lease_ttl", "2s", "-coordination.publish_interval", "100ms")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.stop)
		base := "http://" + p.addr
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if resp, err := http.Get(base + "/v2/health/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return base
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s never became ready", replica)
			}
		}
	}
	bases := []string{serve(repoA, "replica-a"), serve(repoB, "replica-b")}
	shifted := rowsOf(t, nextTerm)
	for _, base := range bases {
		c := client.New(base, 8)
		defer c.CloseIdle()
		r := startReplay(t, c, shifted)
		defer r.stop()
	}
	for _, base := range bases {
		v := waitDrift(t, base, 60*time.Second, func(v drift.VersionView) bool { return v.State == "drifting" })
		var view drift.ModelView
		if err := json.Unmarshal([]byte(get(t, base+"/v2/admin/models/student-success/drift")), &view); err != nil {
			t.Fatal(err)
		}
		if view.Scope != drift.ScopeFleet || view.Replicas != 2 {
			t.Errorf("%s: scope %q over %d replicas, want the fleet's two (window rows %d)", base, view.Scope, view.Replicas, v.Window.Rows)
		}
	}
	var event string
	for deadline := time.Now().Add(30 * time.Second); event == ""; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		if len(ids) > 0 {
			event = ids[0]
		}
		mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the drifting fleet sent no event")
		}
	}
	leader, follower := "", ""
	for _, base := range bases {
		var fleet struct {
			Replica string
			Leader  bool
		}
		if err := json.Unmarshal([]byte(get(t, base+"/v2/admin/fleet")), &fleet); err != nil {
			t.Fatal(err)
		}
		if fleet.Leader {
			leader = base
		} else {
			follower = base
		}
	}
	if leader == "" || follower == "" {
		t.Fatalf("want one leader and one follower among %v", bases)
	}
	// The follower has seen the fleet's record of the trigger and has been
	// drifting past drifting_for itself: had it been allowed to send, it
	// would have by now.
	waitDriftView(t, follower, 30*time.Second, func(view drift.ModelView, v drift.VersionView) bool {
		return view.LastTrigger != nil && view.LastTrigger.ID == event && v.DriftingSince != nil && v.Window != nil &&
			v.DriftingSince.Add(2*time.Second).Before(v.Window.To)
	})
	sent := `sluice_drift_triggers_total{model="student-success",outcome="sent",reason="drifting"} 1`
	if m := get(t, leader+"/metrics"); !strings.Contains(m, sent) {
		t.Errorf("the leader counted no sent trigger:\n%s", grepLines(m, "sluice_drift_triggers_total"))
	}
	if m := get(t, follower+"/metrics"); strings.Contains(m, `outcome="sent"`) {
		t.Errorf("the follower sent a trigger:\n%s", grepLines(m, "sluice_drift_triggers_total"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 1 || len(sources) != 1 || sources[0] != "/sluice/fleet" {
		t.Errorf("events %v from %v, want one, from the fleet's source /sluice/fleet", ids, sources)
	}
}

// The watcher recognises the event the monitor sends: the two packages
// cannot share the constant (pipeline does not import the serving side).
func TestWatcherKnowsTheDriftEventType(t *testing.T) {
	if pipeline.DriftEventType != drift.EventType {
		t.Errorf("pipeline.DriftEventType %q, drift.EventType %q: the watcher would not recognise the monitor's event", pipeline.DriftEventType, drift.EventType)
	}
}
