package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor bounds every wait on the watcher's goroutines.
const waitFor = 10 * time.Second

// logBuffer collects the watcher's JSON log lines.
type logBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count is how many log lines have message msg.
func (l *logBuffer) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.b.String(), "\n") {
		var rec struct{ Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			n++
		}
	}
	return n
}

// fakeRun is a hand-written runner: it hands each trigger to the test and
// returns what the test sends on release (nil when release is nil).
type fakeRun struct {
	calls   chan Trigger
	release chan error
	panicOn string // the id of a trigger whose run panics
}

func newFakeRun(blocking bool) *fakeRun {
	f := &fakeRun{calls: make(chan Trigger, 16)}
	if blocking {
		f.release = make(chan error)
	}
	return f
}

func (f *fakeRun) run(ctx context.Context, t Trigger) error {
	f.calls <- t
	if t.ID == f.panicOn {
		panic("boom")
	}
	if f.release == nil {
		return nil
	}
	select {
	case err := <-f.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next waits for the next run's trigger.
func (f *fakeRun) next(t *testing.T) Trigger {
	t.Helper()
	select {
	case tr := <-f.calls:
		return tr
	case <-time.After(waitFor):
		t.Fatal("no run started")
	}
	return Trigger{}
}

// harness is a Watcher running on injected ticks, over a folder, behind
// a loopback HTTP server.
type harness struct {
	w     *Watcher
	dir   string
	fake  *fakeRun
	logs  *logBuffer
	ticks chan time.Time
	clock time.Time
	url   string
}

// startWatcher runs a watcher with the default settings, edited by edit
// when it is not nil, over a folder holding the baseline files.
func startWatcher(t *testing.T, edit func(*WatchConfig), blocking bool, baseline ...string) *harness {
	t.Helper()
	h := &harness{dir: t.TempDir(), fake: newFakeRun(blocking), logs: &logBuffer{}, ticks: make(chan time.Time),
		clock: time.Date(2025, 6, 10, 6, 0, 0, 0, time.UTC)}
	for _, name := range baseline {
		h.write(t, name, "baseline")
	}
	cfg := DefaultWatchConfig()
	cfg.Folder, cfg.Cooldown = h.dir, 0
	if edit != nil {
		edit(&cfg)
	}
	w, err := NewWatcher(cfg, h.fake.run, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, h.ticks) }()
	srv := httptest.NewServer(w.Handler())
	h.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return h
}

func (h *harness) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tick advances the clock by d and hands Run the tick, then the same tick
// again, which Run ignores (time did not move): Run takes ticks one at a
// time from an unbuffered channel, so when tick returns, the first has been
// handled in full.
func (h *harness) tick(t *testing.T, d time.Duration) {
	t.Helper()
	h.clock = h.clock.Add(d)
	for range 2 {
		select {
		case h.ticks <- h.clock:
		case <-time.After(waitFor):
			t.Fatal("Run does not take ticks")
		}
	}
}

// post sends a structured-mode CloudEvent and returns the status.
func (h *harness) post(t *testing.T, id, reason string) int {
	t.Helper()
	body := `{"specversion":"1.0","type":"io.sluice.drift.drifting","source":"/sluice/replica-a","id":"` + id +
		`","subject":"student-success/versions/3","datacontenttype":"application/json","data":{"model":"student-success","reason":"` + reason + `"}}`
	resp, err := http.Post(h.url, "application/cloudevents+json; charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A file landing in the folder starts one run once it stopped changing;
// the files there at the start start none, but are the data until then.
func TestWatcherRunsOnceForASettledFile(t *testing.T) {
	h := startWatcher(t, nil, false, "old.csv", "notes.txt")
	h.tick(t, time.Second)
	h.tick(t, time.Second)
	h.write(t, "new.csv", "half")
	h.write(t, ".new2.csv", "hidden while written")
	h.tick(t, time.Second) // first seen
	h.write(t, "new.csv", "half and the rest")
	h.tick(t, time.Second) // changed: not settled
	if n := h.logs.count("retraining run started"); n != 0 {
		t.Fatalf("%d runs started before new.csv settled, want 0:\n%s", n, h.logs.text())
	}
	h.tick(t, time.Second) // unchanged since the last poll: settled
	got := h.fake.next(t)
	if got.File != filepath.Join(h.dir, "new.csv") || got.ID != "new.csv" || got.Type != DataArrivedType || !strings.Contains(got.Reason, "new.csv (17 bytes)") {
		t.Errorf("trigger %+v, want new.csv's", got)
	}
	for range 5 {
		h.tick(t, time.Second)
	}
	if n := h.logs.count("retraining run started"); n != 1 {
		t.Errorf("%d runs started, want 1", n)
	}
	h.waitLogged(t, "retraining run finished", 1)
}

// Events while a run is going and within the cooldown after its start are
// merged into one run, which starts when the cooldown ends; a repeated id
// counts once.
func TestWatcherCoalescesWithinTheCooldown(t *testing.T) {
	h := startWatcher(t, func(c *WatchConfig) { c.Cooldown = time.Hour }, true, "data.csv")
	if got := h.post(t, "a", "sem1_grade PSI 0.41 > 0.25"); got != http.StatusAccepted {
		t.Fatalf("first event: %d, want 202", got)
	}
	h.tick(t, time.Second)
	first := h.fake.next(t)
	if first.ID != "a" || first.Type != DriftEventType || !strings.Contains(first.Reason, "sem1_grade PSI 0.41") ||
		!strings.Contains(first.Reason, "replica-a") || first.File != filepath.Join(h.dir, "data.csv") {
		t.Errorf("first run's trigger %+v", first)
	}
	h.postWant(t, "d", http.StatusAccepted) // while the run is going
	h.fake.release <- nil
	h.waitLogged(t, "retraining run finished", 1)
	h.postWant(t, "b", http.StatusAccepted) // in the cooldown
	h.postWant(t, "c", http.StatusAccepted) // in the cooldown, merged with b
	h.postWant(t, "b", http.StatusOK)       // a retry
	h.postWant(t, "a", http.StatusOK)       // the first run's event, again
	h.tick(t, 10*time.Minute)
	h.tick(t, 49*time.Minute)
	if n := h.logs.count("retraining run started"); n != 1 {
		t.Fatalf("%d runs started within the cooldown, want 1", n)
	}
	if n := h.logs.count("retraining trigger coalesced"); n != 3 {
		t.Errorf("%d triggers logged as coalesced, want 3 (d, b and c)", n)
	}
	for _, why := range []string{"a run is in progress", "cooldown until 2025-06-10T07:00:01Z"} {
		if !strings.Contains(h.logs.text(), why) {
			t.Errorf("no trigger logged as coalesced because %q:\n%s", why, h.logs.text())
		}
	}
	h.tick(t, time.Hour)
	second := h.fake.next(t)
	if second.ID != "d,b,c" || second.Type != DriftEventType || !strings.Contains(second.Reason, "drifting d; ") || strings.Count(second.Reason, "drifting b") != 1 || strings.Count(second.Reason, "drifting c") != 1 {
		t.Errorf("the merged run's trigger %+v, want d, b and c once each", second)
	}
	h.fake.release <- errors.New("gate refused")
	h.waitLogged(t, "retraining run finished", 2)
	if !strings.Contains(h.logs.text(), `"outcome":"failed","err":"gate refused"`) {
		t.Errorf("a failed run is not logged as failed:\n%s", h.logs.text())
	}
	if n := h.logs.count("retraining run started"); n != 2 {
		t.Errorf("%d runs started, want 2", n)
	}
}

func (h *harness) postWant(t *testing.T, id string, want int) {
	t.Helper()
	if got := h.post(t, id, "drifting "+id); got != want {
		t.Errorf("event %s: %d, want %d", id, got, want)
	}
}

// waitLogged polls the log, with a deadline, until msg appears n times:
// a run's end reaches Run on a channel of its own, not in step with ticks.
func (h *harness) waitLogged(t *testing.T, msg string, n int) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); h.logs.count(msg) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%q logged %d times, want %d:\n%s", msg, h.logs.count(msg), n, h.logs.text())
		}
	}
}

func (l *logBuffer) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The data of a run is the file that landed last, even when it keeps an
// old modification time (a copy that preserves it); before any lands, the
// baseline file modified last.
func TestWatcherTrainsOnTheFileThatArrived(t *testing.T) {
	h := startWatcher(t, nil, false, "a.csv", "b.csv")
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(h.dir, "b.csv"), old, old); err != nil {
		t.Fatal(err)
	}
	h.postWant(t, "before", http.StatusAccepted)
	h.tick(t, time.Second)
	if got := h.fake.next(t); got.File != filepath.Join(h.dir, "a.csv") {
		t.Errorf("with only the baseline, the run used %s, want a.csv, modified last", got.File)
	}
	h.waitLogged(t, "retraining run finished", 1)
	h.write(t, "copied.csv", "old rows")
	if err := os.Chtimes(filepath.Join(h.dir, "copied.csv"), old, old); err != nil {
		t.Fatal(err)
	}
	h.tick(t, time.Second)
	h.tick(t, time.Second)
	if got := h.fake.next(t); got.File != filepath.Join(h.dir, "copied.csv") || got.ID != "copied.csv" {
		t.Errorf("the landed file's run used %s (%s), want copied.csv", got.File, got.ID)
	}
}
