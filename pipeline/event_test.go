package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// send posts body with headers to the watcher and returns the status and
// the answer, its "error" unquoted when it has one.
func (h *harness) send(t *testing.T, method string, headers map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, string(b)
}

const structured = "application/cloudevents+json"

// A malformed event is refused with 400 naming what is wrong, and starts
// nothing.
func TestWatcherRefusesBadEvents(t *testing.T) {
	h := startWatcher(t, nil, false, "data.csv")
	binary := func(drop string) map[string]string {
		m := map[string]string{"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s", "ce-id": "1", "Content-Type": "application/json"}
		delete(m, drop)
		return m
	}
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		body    string
		status  int
		names   string
	}{
		{"not JSON", "POST", map[string]string{"Content-Type": structured}, `{"specversion":`, 400, "not a JSON object"},
		{"a JSON array", "POST", map[string]string{"Content-Type": structured}, `[1]`, 400, "not a JSON object"},
		{"no id", "POST", map[string]string{"Content-Type": structured}, `{"specversion":"1.0","type":"t","source":"/s"}`, 400, `"id" missing`},
		{"no source", "POST", map[string]string{"Content-Type": structured}, `{"specversion":"1.0","type":"t","id":"1"}`, 400, `"source" missing`},
		{"empty type", "POST", map[string]string{"Content-Type": structured}, `{"specversion":"1.0","type":"","source":"/s","id":"1"}`, 400, `"type" is ""`},
		{"numeric id", "POST", map[string]string{"Content-Type": structured}, `{"specversion":"1.0","type":"t","source":"/s","id":7}`, 400, `"id" is 7`},
		{"old spec", "POST", map[string]string{"Content-Type": structured}, `{"specversion":"0.3","type":"t","source":"/s","id":"1"}`, 400, `"specversion" is "0.3", expected "1.0"`},
		{"long id", "POST", map[string]string{"Content-Type": structured}, `{"specversion":"1.0","type":"t","source":"/s","id":"` + strings.Repeat("x", 2000) + `"}`, 400, `"id" is 2000 bytes long`},
		{"batch", "POST", map[string]string{"Content-Type": batchType}, `[]`, 400, "one event a request"},
		{"neither mode", "POST", map[string]string{"Content-Type": "text/plain"}, `hello`, 400, `"ce-specversion" missing and Content-Type "text/plain"`},
		{"binary without ce-id", "POST", binary("ce-id"), `{}`, 400, `header "ce-id" missing`},
		{"binary without ce-source", "POST", binary("ce-source"), `{}`, 400, `header "ce-source" missing`},
		{"binary old spec", "POST", map[string]string{"ce-specversion": "0.3", "ce-type": "t", "ce-source": "/s", "ce-id": "1"}, ``, 400, `"ce-specversion" is "0.3"`},
		{"GET", "GET", nil, ``, 405, "expected POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := h.send(t, tt.method, tt.headers, tt.body)
			if status != tt.status || !strings.Contains(body, tt.names) {
				t.Errorf("%d %s, want %d naming %q", status, body, tt.status, tt.names)
			}
		})
	}
	h.tick(t, time.Second)
	if n := h.logs.count("retraining trigger"); n != 0 {
		t.Errorf("refused events made %d triggers, want 0", n)
	}
}

// Binary mode: the attributes come in ce-* headers and the body is the
// data, whose reason is read when it is JSON.
func TestWatcherTakesBinaryModeEvents(t *testing.T) {
	h := startWatcher(t, nil, false, "data.csv")
	headers := map[string]string{"ce-specversion": "1.0", "ce-type": "com.example.retrain", "ce-source": "/cron", "ce-id": "nightly-1",
		"ce-subject": "student-success", "Content-Type": "application/json; charset=utf-8"}
	if status, body := h.send(t, "POST", headers, `{"reason":"nightly retraining"}`); status != http.StatusAccepted || !strings.Contains(body, `"accepted"`) {
		t.Fatalf("binary event: %d %s, want 202", status, body)
	}
	if status, body := h.send(t, "POST", headers, `{"reason":"nightly retraining"}`); status != http.StatusOK || !strings.Contains(body, `"duplicate"`) {
		t.Errorf("the same id again: %d %s, want 200 duplicate", status, body)
	}
	h.tick(t, time.Second)
	got := h.fake.next(t)
	want := Trigger{Reason: "event com.example.retrain from /cron about student-success: nightly retraining", ID: "nightly-1", Type: "com.example.retrain",
		File: filepath.Join(h.dir, "data.csv")}
	if got != want {
		t.Errorf("trigger %+v, want %+v", got, want)
	}
	if n := h.logs.count("event of a type other than drift: it triggers retraining all the same"); n != 1 {
		t.Errorf("an event of another type logged %d times as such, want 1", n)
	}
}

// With a token configured, an event without it is refused with 401.
func TestWatcherChecksTheToken(t *testing.T) {
	h := startWatcher(t, func(c *WatchConfig) { c.Token = "s3cret" }, false)
	ev := `{"specversion":"1.0","type":"t","source":"/s","id":"1"}`
	for _, auth := range []string{"", "Bearer wrong", "s3cret"} {
		if status, _ := h.send(t, "POST", map[string]string{"Content-Type": structured, "Authorization": auth}, ev); status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, status)
		}
	}
	if status, _ := h.send(t, "POST", map[string]string{"Content-Type": structured, "Authorization": "Bearer s3cret"}, ev); status != http.StatusAccepted {
		t.Errorf("the right token: %d, want 202", status)
	}
}

// An event with no data in the folder waits for the first file to settle,
// then one run carries both reasons.
func TestWatcherWaitsForData(t *testing.T) {
	h := startWatcher(t, nil, false)
	h.postWant(t, "e1", http.StatusAccepted)
	h.tick(t, time.Second)
	h.tick(t, time.Second)
	if n := h.logs.count("retraining waits for a data file"); n != 1 {
		t.Errorf("the wait logged %d times, want once", n)
	}
	h.write(t, "first.csv", "rows")
	h.tick(t, time.Second)
	h.tick(t, time.Second)
	got := h.fake.next(t)
	if got.ID != "e1,first.csv" || got.File != filepath.Join(h.dir, "first.csv") || got.Type != DriftEventType+","+DataArrivedType {
		t.Errorf("trigger %+v, want the event and the file in one run", got)
	}
}

// A run that panics is a failed run; the watcher goes on.
func TestWatcherSurvivesAPanickingRun(t *testing.T) {
	h := startWatcher(t, nil, false, "data.csv")
	h.fake.panicOn = "p1" // before the run that reads it starts
	h.postWant(t, "p1", http.StatusAccepted)
	h.tick(t, time.Second)
	h.waitLogged(t, "retraining run finished", 1)
	if !strings.Contains(h.logs.text(), `"err":"retraining run panicked: boom"`) {
		t.Errorf("the panic is not logged as the run's failure:\n%s", h.logs.text())
	}
	h.postWant(t, "p2", http.StatusAccepted)
	h.tick(t, time.Second)
	h.waitLogged(t, "retraining run finished", 2)
	if first, second := h.fake.next(t), h.fake.next(t); first.ID != "p1" || second.ID != "p2" {
		t.Errorf("runs %q and %q, want p1 then p2", first.ID, second.ID)
	}
	if !strings.Contains(h.logs.text(), `"outcome":"ok","id":"p2"`) {
		t.Errorf("the run after the panic did not succeed:\n%s", h.logs.text())
	}
}

// When Run's context ends during a run, the run's context ends too and Run
// returns only after the run did.
func TestWatcherStopsItsRun(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultWatchConfig()
	cfg.Folder = dir
	if err := os.WriteFile(filepath.Join(dir, "data.csv"), []byte("rows"), 0o644); err != nil {
		t.Fatal(err)
	}
	entered, left := make(chan struct{}), make(chan struct{})
	w, err := NewWatcher(cfg, func(ctx context.Context, _ Trigger) error {
		close(entered)
		<-ctx.Done()
		close(left)
		return ctx.Err()
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.accept(event{SpecVersion: "1.0", Type: DriftEventType, Source: "/s", ID: "x"})
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time, 1)
	ticks <- time.Now()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, ticks) }()
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("the run never started")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		select {
		case <-left:
		default:
			t.Error("Run returned before its run did")
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestWatchConfigValidate(t *testing.T) {
	good := DefaultWatchConfig()
	good.Folder = t.TempDir()
	if err := good.Validate(); err != nil {
		t.Errorf("defaults with a folder: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*WatchConfig)
		names string
	}{
		{"no folder", func(c *WatchConfig) { c.Folder = "" }, "-data-dir"},
		{"bad pattern", func(c *WatchConfig) { c.Pattern = "[" }, "-pattern"},
		{"no pattern", func(c *WatchConfig) { c.Pattern = "" }, "-pattern"},
		{"no poll", func(c *WatchConfig) { c.Poll = 0 }, "-poll"},
		{"negative cooldown", func(c *WatchConfig) { c.Cooldown = -time.Second }, "-cooldown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.names) {
				t.Errorf("Validate = %v, want an error naming %s", err, tt.names)
			}
		})
	}
	missing := good
	missing.Folder = filepath.Join(good.Folder, "absent")
	if _, err := NewWatcher(missing, func(context.Context, Trigger) error { return nil }, nil); err == nil || !strings.Contains(err.Error(), "-data-dir") {
		t.Errorf("a missing folder: %v, want an error naming -data-dir", err)
	}
}

// The ids remembered are bounded: the oldest is forgotten first.
func TestIDSetForgetsTheOldest(t *testing.T) {
	s := newIDSet(3)
	for _, id := range []string{"a", "b", "c"} {
		if !s.add(id) {
			t.Fatalf("%s: new id taken for a duplicate", id)
		}
	}
	if s.add("a") {
		t.Error("a repeated within the bound counted as new")
	}
	if !s.add("d") || !s.add("a") || s.add("c") || len(s.set) != 3 {
		t.Errorf("after d: ids %v, want a forgotten and then new again, c kept, 3 held", s.order)
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(structured, "", "", `{"specversion":"1.0","type":"io.sluice.drift.drifting","source":"/s","id":"1","data":{"reason":"r"}}`)
	f.Add("application/json", "1.0", "id-1", `{"reason":"r"}`)
	f.Add("text/plain", "", "", `x`)
	f.Fuzz(func(t *testing.T, contentType, spec, id, body string) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("Ce-Specversion", spec)
		h.Set("Ce-Id", id)
		h.Set("Ce-Type", "t")
		h.Set("Ce-Source", "/s")
		ev, err := parseEvent(h, []byte(body))
		if err != nil {
			if !errors.Is(err, errBadEvent) {
				t.Fatalf("refusal %v is not an errBadEvent", err)
			}
			return
		}
		if ev.SpecVersion != "1.0" || ev.Type == "" || ev.Source == "" || ev.ID == "" || len(ev.ID) > maxAttrBytes || len(ev.Reason) > maxAttrBytes+len("…") {
			t.Fatalf("accepted %+v", ev)
		}
	})
}
