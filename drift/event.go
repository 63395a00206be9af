package drift

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// CloudEvents 1.0, structured mode: the whole event is the JSON body.
const (
	EventType   = "io.sluice.drift.drifting"
	contentType = "application/cloudevents+json; charset=utf-8"
)

// Event is the CloudEvent a drifting version's trigger sends.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	Type            string    `json:"type"`
	Source          string    `json:"source"`
	ID              string    `json:"id"`
	Time            time.Time `json:"time"`
	Subject         string    `json:"subject"`
	DataContentType string    `json:"datacontenttype"`
	Data            EventData `json:"data"`
}

// EventData is what the event says of the drifting version.
type EventData struct {
	Model         string       `json:"model"`
	Version       int64        `json:"version"`
	State         string       `json:"state"`
	DriftingSince time.Time    `json:"drifting_since"`
	Window        Window       `json:"window"`
	Features      []SignalView `json:"features"`
	Outputs       []SignalView `json:"outputs"`
	Reason        string       `json:"reason"`
}

// SignalView is one feature's or output's signals in an event.
type SignalView struct {
	Name  string  `json:"name"`
	PSI   float64 `json:"psi"`
	KS    float64 `json:"ks"`
	State string  `json:"state"`
}

// newEvent is the event of trigger t for version view v of model.
func newEvent(source string, t Trigger, v VersionView) Event {
	d := EventData{Model: t.Model, Version: t.Version, State: v.State, Reason: t.Reason,
		Features: signals(v.Features), Outputs: signals(v.Outputs)}
	if v.Window != nil {
		d.Window = *v.Window
	}
	if v.DriftingSince != nil {
		d.DriftingSince = *v.DriftingSince
	}
	return Event{SpecVersion: "1.0", Type: EventType, Source: source, ID: t.ID, Time: t.Time.UTC(),
		Subject: fmt.Sprintf("%s/versions/%d", t.Model, t.Version), DataContentType: "application/json", Data: d}
}

func signals(fs []FeatureView) []SignalView {
	out := make([]SignalView, len(fs))
	for i, f := range fs {
		out[i] = SignalView{Name: f.Name, PSI: f.PSI, KS: f.KS, State: f.State}
	}
	return out
}

// webhook delivers events: tries attempts, each bounded by timeout, with a
// backoff that doubles between them.
type webhook struct {
	client  *http.Client
	token   string // sent as a bearer token when set
	tries   int
	timeout time.Duration
	backoff time.Duration
}

// span is the longest send takes: every attempt and the backoffs between
// them.
func (w webhook) span() time.Duration {
	d, wait := time.Duration(w.tries)*w.timeout, w.backoff
	for range w.tries - 1 {
		d += wait
		wait *= 2
	}
	return d
}

// send POSTs ev to url until a 2xx answer, the attempts run out, the
// receiver refuses it for good (a 4xx other than 408 or 429), or ctx ends.
func (w webhook) send(ctx context.Context, url string, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding event %s: %w", ev.ID, err)
	}
	wait := w.backoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, url, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.tries {
			return fmt.Errorf("webhook %s, attempt %d of %d: %w", url, attempt, w.tries, err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("webhook %s, attempt %d of %d: %w (then stopped: %w)", url, attempt, w.tries, err, ctx.Err())
		case <-timer.C:
		}
		wait *= 2
	}
}

// post is one attempt; retry says whether another may succeed.
func (w webhook) post(ctx context.Context, url string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", contentType)
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // lets the connection be reused
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return false, fmt.Errorf("answered %s: %s, expected 2xx", resp.Status, bytes.TrimSpace(msg))
	default:
		return true, fmt.Errorf("answered %s: %s, expected 2xx", resp.Status, bytes.TrimSpace(msg))
	}
}
