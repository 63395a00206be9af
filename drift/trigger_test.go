package drift

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// driftingStudent is a monitor of model student (webhook url), led by
// fleet when it is not nil, whose version 1 has been fed calls shifted
// by 0.5 just after at(0): it drifts from at(1), its episode is due at
// at(4), and its window holds the calls until at(11).
func driftingStudent(t *testing.T, url string, fleet Fleet) (*Monitor, func(s int)) {
	t.Helper()
	p, _ := studentProfile(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(url), card(p)}})
	m := newMonitor(t, reg, dir, nil)
	if fleet != nil {
		m.WithFleet(fleet)
	}
	ctx := context.Background()
	m.Evaluate(ctx, at(0))
	feed(t, reg, "student", newRand(21), 1000, 0.5)
	return m, func(s int) {
		m.Evaluate(ctx, at(s))
		waitIdle(t, m)
	}
}

// TestMonitorRetriesAnEpisodeLeftSending: a send that fails and whose
// failure cannot be recorded leaves the claim sending. The episode is
// neither taken as sent nor sent again while a delivery could still be
// running (lostAfter), and is sent again, with its id, once the claim
// counts as lost.
func TestMonitorRetriesAnEpisodeLeftSending(t *testing.T) {
	hook := newReceiver(t, 500, 500, 500)
	fleet := newFakeFleet(true)
	fleet.failWrite = func(t Trigger) bool { return t.Outcome == OutcomeFailed }
	m, tick := driftingStudent(t, hook.URL, fleet)
	// lostAfter: three attempts of 1s, 3ms of backoff, two writes of 1s.
	m.cfg.WebhookTimeout, m.hook.timeout = time.Second, time.Second
	for s := 1; s <= 4; s++ {
		tick(s)
	}
	if n, recs := len(hook.received()), fleet.outcomes(); n != 3 || !slices.Equal(recs, []string{OutcomeSending}) || count(t, m, "student", OutcomeFailed) != 1 {
		t.Fatalf("%d attempts, records %v; want 3, the claim left sending and the trigger failed", n, recs)
	}
	for s := 5; s <= 9; s++ { // retryAfter ends at 9, lostAfter a little after
		tick(s)
	}
	if n := len(hook.received()); n != 3 {
		t.Fatalf("%d attempts while the claim could still be sending, want 3", n)
	}
	tick(10)
	got, recs := hook.received(), fleet.outcomes()
	if len(got) != 4 || got[3].event.ID != got[0].event.ID || !slices.Equal(recs, []string{OutcomeSending, OutcomeSending, OutcomeSent}) ||
		count(t, m, "student", OutcomeSent) != 1 {
		t.Errorf("after lostAfter: %d attempts, records %v; want the episode sent again with its id", len(got), recs)
	}
}

// TestMonitorRecordsAFailureWhileClosing: Close during a send stops it,
// and its failure is still recorded, so the claim does not hold the
// episode until it counts as lost.
func TestMonitorRecordsAFailureWhileClosing(t *testing.T) {
	posted := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// The server notices the client going only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		posted <- struct{}{}
		<-r.Context().Done() // no answer: the monitor gives up
	}))
	t.Cleanup(srv.Close)
	fleet := newFakeFleet(true)
	m, _ := driftingStudent(t, srv.URL, fleet)
	for s := 1; s <= 4; s++ {
		m.Evaluate(context.Background(), at(s))
	}
	select {
	case <-posted:
	case <-time.After(10 * time.Second):
		t.Fatal("the due trigger was not posted")
	}
	m.Close()
	if recs := fleet.outcomes(); !slices.Equal(recs, []string{OutcomeSending, OutcomeFailed}) || count(t, m, "student", OutcomeFailed) != 1 {
		t.Errorf("records %v, want the claim, then its failure recorded despite Close", recs)
	}
}

// TestMonitorClaimsOnTheRecordItRead: another replica writes the record
// just after fire read it; the claim compares with the record fire
// decided on, not a later read, so it is refused and no event goes out.
// The retry reads the new record and sends.
func TestMonitorClaimsOnTheRecordItRead(t *testing.T) {
	hook := newReceiver(t)
	fleet := newFakeFleet(true)
	m, tick := driftingStudent(t, hook.URL, fleet)
	for s := 1; s <= 3; s++ {
		tick(s)
	}
	fleet.set(func(f *fakeFleet) {
		f.afterRead = func(f *fakeFleet) {
			f.put("student", Trigger{ID: "student-2-1", Model: "student", Version: 2, Outcome: OutcomeFailed, Time: at(4)})
			f.afterRead = nil
		}
	})
	tick(4)
	if n, recs := len(hook.received()), fleet.outcomes(); n != 0 || len(recs) != 0 || count(t, m, "student", OutcomeFailed) != 1 {
		t.Fatalf("a claim on a record written since it was read: %d events, records %v; want it refused and nothing sent", n, recs)
	}
	tick(9) // retryAfter
	if n, recs := len(hook.received()), fleet.outcomes(); n != 1 || !slices.Equal(recs, []string{OutcomeSending, OutcomeSent}) {
		t.Errorf("the retry: %d events, records %v; want one sent", n, recs)
	}
}

// TestMonitorRetriesAcrossAReload: a version reloaded while its trigger
// is being delivered still retries the episode when the delivery fails:
// the failure reaches the version's tracker as it is now.
func TestMonitorRetriesAcrossAReload(t *testing.T) {
	var posts atomic.Int32
	posted, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch posts.Add(1) {
		case 1:
			close(posted)
			<-release
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2, 3:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	p, _ := studentProfile(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(srv.URL), card(p)}})
	m := newMonitor(t, reg, dir, nil)
	ctx := context.Background()
	m.Evaluate(ctx, at(0))
	feed(t, reg, "student", newRand(22), 1000, 0.5)
	for s := 1; s <= 4; s++ {
		m.Evaluate(ctx, at(s))
	}
	select {
	case <-posted:
	case <-time.After(10 * time.Second):
		t.Fatal("the due trigger was not posted")
	}
	writeFile(t, filepath.Join(dir, "student", "config.yaml"), []byte(driftConfig(srv.URL)+"  psi: {warn: 0.2, drifting: 0.3}\n"))
	if err := reg.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	m.Evaluate(ctx, at(5)) // the reloaded version gets a new watched, its tracker carried on
	close(release)
	waitIdle(t, m)
	if n := posts.Load(); n != 3 || count(t, m, "student", OutcomeFailed) != 1 {
		t.Fatalf("%d attempts, want 3 and the trigger failed", n)
	}
	m.Evaluate(ctx, at(9)) // retryAfter
	waitIdle(t, m)
	if n := posts.Load(); n != 4 || count(t, m, "student", OutcomeSent) != 1 {
		t.Errorf("%d attempts after retryAfter, want a 4th, sent", n)
	}
}

// TestMonitorForgetsAModelsTriggerCounts: a model no longer monitored
// leaves no trigger series behind.
func TestMonitorForgetsAModelsTriggerCounts(t *testing.T) {
	p, _ := studentProfile(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(""), card(p)}})
	promReg := prometheus.NewRegistry()
	m := newMonitor(t, reg, dir, promReg)
	ctx := context.Background()
	m.Evaluate(ctx, at(0))
	feed(t, reg, "student", newRand(23), 1000, 0.5)
	for s := 1; s <= 4; s++ {
		m.Evaluate(ctx, at(s))
	}
	waitIdle(t, m)
	const logged = `sluice_drift_triggers_total{model="student",outcome="logged",reason="drifting"}`
	if got := gather(t, promReg, "sluice_drift_triggers_total"); got[logged] != 1 {
		t.Fatalf("trigger series %v, want %s 1", got, logged)
	}
	writeFile(t, filepath.Join(dir, "student", "config.yaml"), []byte("max_batch_size: 8\n"))
	if err := reg.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	m.Evaluate(ctx, at(5))
	if got := gather(t, promReg, "sluice_drift_triggers_total"); len(got) != 0 {
		t.Errorf("trigger series of a model whose drift section is gone: %v, want none", got)
	}
}
