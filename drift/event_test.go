package drift

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook that answers each POST with the next status of
// its script (200 once the script runs out) and keeps what it got.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex // guards script and got
	script []int
	got    []received
}

type received struct {
	contentType, auth string
	event             Event
	raw               map[string]any
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{script: script}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		rec := received{contentType: req.Header.Get("Content-Type"), auth: req.Header.Get("Authorization")}
		_ = json.Unmarshal(b, &rec.event)
		_ = json.Unmarshal(b, &rec.raw)
		r.mu.Lock()
		status := http.StatusOK
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.got = append(r.got, rec)
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func testHook(token string) webhook {
	return webhook{client: &http.Client{}, token: token, tries: 3, timeout: 5 * time.Second, backoff: time.Millisecond}
}

func testEvent() Event {
	from := t0.Add(-10 * time.Minute)
	since := t0.Add(-5 * time.Minute)
	v := VersionView{Version: 3, State: StateDrifting, DriftingSince: &since, Window: &Window{From: from, To: t0, Rows: 1830, SampleRate: 1},
		Features: []FeatureView{{Name: "sem1_grade", PSI: 0.41, KS: 0.27, State: StateDrifting}},
		Outputs:  []FeatureView{{Name: "probability", PSI: 0.3, KS: 0.2, State: StateDrifting}}}
	t := Trigger{ID: episodeID("student-success", 3, since), Model: "student-success", Version: 3, Time: t0, Reason: "version 3 drifting for 5m0s: sem1_grade PSI 0.41 > 0.25"}
	return newEvent("/sluice/replica-a", t, v)
}

func TestWebhookDeliversACloudEvent(t *testing.T) {
	r := newReceiver(t)
	if err := testHook("s3cret").send(context.Background(), r.URL, testEvent()); err != nil {
		t.Fatal(err)
	}
	got := r.received()
	if len(got) != 1 {
		t.Fatalf("%d posts, want 1", len(got))
	}
	g := got[0]
	if g.contentType != "application/cloudevents+json; charset=utf-8" || g.auth != "Bearer s3cret" {
		t.Errorf("content type %q, authorization %q", g.contentType, g.auth)
	}
	want := map[string]any{"specversion": "1.0", "type": "io.sluice.drift.drifting", "source": "/sluice/replica-a",
		"id": "student-success-3-" + itoa(t0.Add(-5*time.Minute).Unix()), "time": "2025-06-10T06:00:00Z",
		"subject": "student-success/versions/3", "datacontenttype": "application/json"}
	for k, v := range want {
		if g.raw[k] != v {
			t.Errorf("%s: %v, want %v", k, g.raw[k], v)
		}
	}
	d := g.event.Data
	if d.Model != "student-success" || d.Version != 3 || d.State != StateDrifting || d.Window.Rows != 1830 || !d.DriftingSince.Equal(t0.Add(-5*time.Minute)) ||
		len(d.Features) != 1 || d.Features[0] != (SignalView{"sem1_grade", 0.41, 0.27, StateDrifting}) || len(d.Outputs) != 1 || !strings.Contains(d.Reason, "sem1_grade PSI") {
		t.Errorf("data %+v", d)
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name   string
		script []int
		posts  int
		ok     bool
	}{
		{"5xx then 2xx", []int{503, 502, 202}, 3, true},
		{"a 429 is retried", []int{429, 200}, 2, true},
		{"every attempt fails", []int{500, 500, 500, 200}, 3, false},
		{"a 400 is final", []int{400, 200}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, tt.script...)
			err := testHook("").send(context.Background(), r.URL, testEvent())
			if (err == nil) != tt.ok || len(r.received()) != tt.posts {
				t.Fatalf("send: %v after %d posts; want ok %v after %d", err, len(r.received()), tt.ok, tt.posts)
			}
			if err != nil && !strings.Contains(err.Error(), r.URL) {
				t.Errorf("error %q does not name the webhook", err)
			}
			for _, g := range r.received() {
				if g.auth != "" || g.event.ID != testEvent().ID {
					t.Errorf("attempt with authorization %q and id %q; want none and the same id each time", g.auth, g.event.ID)
				}
			}
		})
	}
}

func TestWebhookGivesUpWhenStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	posts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts++  // one attempt at a time: send waits for each answer
		cancel() // the monitor closes while the first attempt is answered
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	h := testHook("")
	h.backoff = time.Hour
	if err := h.send(ctx, srv.URL, testEvent()); err == nil || !strings.Contains(err.Error(), "canceled") || posts != 1 {
		t.Errorf("send while stopping: %v after %d posts, want it to give up after the first", err, posts)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
