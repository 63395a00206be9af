package pipeline

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxEventBytes bounds an event's body: a drift event is a few kilobytes.
const maxEventBytes = 1 << 20

// maxAttrBytes bounds an attribute's length, and so the memory the ids and
// the pending run's reasons hold.
const maxAttrBytes = 1024

// maxEventIDs is how many event ids a Watcher remembers to answer a
// repeated one as a duplicate; the oldest is forgotten first.
const maxEventIDs = 1024

// event is what a Watcher reads of a CloudEvent (1.0): the required
// attributes, the subject, and the data's "reason" when the data is a JSON
// object that has one (the gateway's drift events do).
type event struct {
	SpecVersion, Type, Source, ID, Subject, Reason string
}

// The media types of CloudEvents over HTTP in structured and batched mode.
const (
	structuredType = "application/cloudevents+json"
	batchType      = "application/cloudevents-batch+json"
)

// errBadEvent is the class of every refusal of an event's form.
var errBadEvent = errors.New("event")

// parseEvent reads a CloudEvent in structured mode (Content-Type
// application/cloudevents+json, every attribute in the JSON body) or in
// binary mode (attributes in ce-* headers, the body is the data).
func parseEvent(h http.Header, body []byte) (event, error) {
	media, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch media {
	case structuredType:
		return parseStructured(body)
	case batchType:
		return event{}, fmt.Errorf("%w: Content-Type %s, expected one event a request (structured or binary mode)", errBadEvent, batchType)
	}
	if h.Get("Ce-Specversion") == "" && h.Get("Ce-Id") == "" {
		return event{}, fmt.Errorf("%w: header \"ce-specversion\" missing and Content-Type %q: expected ce-specversion, ce-type, ce-source and ce-id headers (binary mode) or Content-Type %s (structured mode)",
			errBadEvent, h.Get("Content-Type"), structuredType)
	}
	return parseBinary(h, body, media)
}

func parseStructured(body []byte) (event, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(body, &attrs); err != nil || attrs == nil {
		return event{}, fmt.Errorf("%w: body is not a JSON object (%v), expected a CloudEvent in structured mode", errBadEvent, err)
	}
	var ev event
	for _, a := range []struct {
		name     string
		to       *string
		required bool
	}{{"specversion", &ev.SpecVersion, true}, {"type", &ev.Type, true}, {"source", &ev.Source, true}, {"id", &ev.ID, true}, {"subject", &ev.Subject, false}} {
		raw, ok := attrs[a.name]
		if !ok && !a.required {
			continue
		}
		if !ok {
			return event{}, fmt.Errorf("%w: %q missing, expected a non-empty string", errBadEvent, a.name)
		}
		if err := json.Unmarshal(raw, a.to); err != nil || (a.required && *a.to == "") {
			return event{}, fmt.Errorf("%w: %q is %s, expected a non-empty string", errBadEvent, a.name, clip(raw))
		}
		if len(*a.to) > maxAttrBytes {
			return event{}, fmt.Errorf("%w: %q is %d bytes long, expected at most %d", errBadEvent, a.name, len(*a.to), maxAttrBytes)
		}
	}
	var dataType string
	if raw, ok := attrs["datacontenttype"]; ok {
		_ = json.Unmarshal(raw, &dataType) // a wrong type only means the data is not read
	}
	if media, _, _ := mime.ParseMediaType(dataType); dataType == "" || isJSON(media) {
		ev.Reason = reasonOf(attrs["data"])
	}
	return ev, checkSpecVersion(ev, "specversion")
}

func parseBinary(h http.Header, body []byte, media string) (event, error) {
	ev := event{SpecVersion: h.Get("Ce-Specversion"), Type: h.Get("Ce-Type"), Source: h.Get("Ce-Source"), ID: h.Get("Ce-Id"), Subject: h.Get("Ce-Subject")}
	for _, a := range []struct{ name, v string }{{"ce-specversion", ev.SpecVersion}, {"ce-type", ev.Type}, {"ce-source", ev.Source}, {"ce-id", ev.ID}} {
		if a.v == "" {
			return event{}, fmt.Errorf("%w: header %q missing, expected a non-empty value (binary mode)", errBadEvent, a.name)
		}
	}
	for _, a := range []struct{ name, v string }{{"ce-type", ev.Type}, {"ce-source", ev.Source}, {"ce-id", ev.ID}, {"ce-subject", ev.Subject}} {
		if len(a.v) > maxAttrBytes {
			return event{}, fmt.Errorf("%w: header %q is %d bytes long, expected at most %d", errBadEvent, a.name, len(a.v), maxAttrBytes)
		}
	}
	if isJSON(media) {
		ev.Reason = reasonOf(body)
	}
	return ev, checkSpecVersion(ev, "ce-specversion")
}

func checkSpecVersion(ev event, field string) error {
	if ev.SpecVersion != "1.0" {
		return fmt.Errorf("%w: %q is %q, expected \"1.0\"", errBadEvent, field, clip([]byte(ev.SpecVersion)))
	}
	return nil
}

func isJSON(media string) bool {
	return media == "application/json" || strings.HasSuffix(media, "+json")
}

// reasonOf is data's "reason" string, cut to maxAttrBytes, or "".
func reasonOf(data []byte) string {
	var d struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	if len(d.Reason) > maxAttrBytes {
		return strings.ToValidUTF8(d.Reason[:maxAttrBytes], "") + "…"
	}
	return d.Reason
}

// clip keeps an echoed value short.
func clip(b []byte) string {
	const most = 64
	if len(b) > most {
		return string(b[:most]) + "…"
	}
	return string(b)
}

// Handler receives CloudEvents over HTTP POST, in structured or binary
// mode, and merges each into the pending run. It answers 202 for a new
// event, 200 for an id it has seen (senders retry, and a new gateway
// leader sends an episode's event again under the same id), 400 naming
// the field that is missing or wrong, 401 without the bearer token when
// one is configured, 405 for another method.
func (w *Watcher) Handler() http.Handler { return http.HandlerFunc(w.serveEvent) }

func (w *Watcher) serveEvent(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		reply(rw, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + ", expected POST of a CloudEvent"})
		return
	}
	if !w.authorized(r) {
		rw.Header().Set("WWW-Authenticate", "Bearer")
		reply(rw, http.StatusUnauthorized, map[string]string{"error": "Authorization: expected the watcher's bearer token"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxEventBytes))
	if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
		reply(rw, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("event body over %d bytes", maxEventBytes)})
		return
	} else if err != nil {
		reply(rw, http.StatusBadRequest, map[string]string{"error": "reading the event: " + err.Error()})
		return
	}
	ev, err := parseEvent(r.Header, body)
	if err != nil {
		w.log.Warn("event refused", "err", err, "remote", r.RemoteAddr)
		reply(rw, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !w.accept(ev) {
		reply(rw, http.StatusOK, map[string]string{"status": "duplicate", "id": ev.ID})
		return
	}
	reply(rw, http.StatusAccepted, map[string]string{"status": "accepted", "id": ev.ID})
}

// authorized reports whether r carries the configured bearer token, if
// one is configured.
func (w *Watcher) authorized(r *http.Request) bool {
	if w.cfg.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(w.cfg.Token)) == 1
}

// accept merges a new event into the pending run; false for an id seen
// before.
func (w *Watcher) accept(ev event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ids.add(ev.ID) {
		w.log.Info("duplicate event ignored", "id", ev.ID, "type", ev.Type, "source", ev.Source)
		return false
	}
	w.log.Info("event received", "id", ev.ID, "type", ev.Type, "source", ev.Source, "subject", ev.Subject)
	if ev.Type != DriftEventType {
		w.log.Info("event of a type other than drift: it triggers retraining all the same", "id", ev.ID, "type", ev.Type)
	}
	reason := "event " + ev.Type + " from " + ev.Source
	if ev.Subject != "" {
		reason += " about " + ev.Subject
	}
	if ev.Reason != "" {
		reason += ": " + ev.Reason
	}
	w.add(Trigger{Reason: reason, ID: ev.ID, Type: ev.Type})
	return true
}

func reply(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}

// idSet is the last n ids seen, oldest forgotten first.
type idSet struct {
	order []string // a ring once full; next is the oldest
	next  int
	set   map[string]struct{}
}

func newIDSet(n int) idSet {
	return idSet{order: make([]string, 0, n), set: make(map[string]struct{}, n)}
}

// add reports whether id is new, and remembers it.
func (s *idSet) add(id string) bool {
	if _, ok := s.set[id]; ok {
		return false
	}
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, id)
	} else {
		delete(s.set, s.order[s.next])
		s.order[s.next] = id
		s.next = (s.next + 1) % len(s.order)
	}
	s.set[id] = struct{}{}
	return true
}
