package drift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/sluice-serving/sluice/atomicfile"
)

// Outcomes of a trigger.
const (
	// OutcomeSending: the trigger is recorded as on its way before its
	// event goes out, so that no other replica sends the episode
	// meanwhile. A record still sending once a delivery must have ended
	// (lostAfter) was left by one that could not record its outcome (a
	// crash, an unreachable store): the episode is sent again, same id.
	OutcomeSending = "sending"
	// OutcomeSent: the webhook took the event (2xx); the cooldown starts.
	OutcomeSent = "sent"
	// OutcomeLogged: the model's spec names no webhook, so the trigger was
	// logged and counted only; the cooldown starts as for a sent one.
	OutcomeLogged = "logged"
	// OutcomeCoalesced: inside the cooldown of the last trigger sent, the
	// trigger was merged into it (the retraining that one started).
	OutcomeCoalesced = "coalesced"
	// OutcomeFailed: the event was not delivered, or the trigger could
	// not be recorded first; the episode tries again later.
	OutcomeFailed = "failed"
)

// reasonDrifting is the metric's reason label: the one kind of trigger.
const reasonDrifting = "drifting"

// starts reports whether a trigger with this outcome starts the cooldown.
func starts(outcome string) bool { return outcome == OutcomeSent || outcome == OutcomeLogged }

// episodeID is a trigger's CloudEvent id: the same for every attempt and
// every replica that sends the episode's trigger, so receivers can drop
// duplicates.
func episodeID(model string, version int64, driftingSince time.Time) string {
	return fmt.Sprintf("%s-%d-%d", model, version, driftingSince.Unix())
}

// lostAfter is the longest a delivery takes: its claim's write, every
// attempt at the webhook with the backoffs between them, and its
// outcome's write. A record sending for longer was lost with its delivery.
func (m *Monitor) lostAfter() time.Duration {
	return m.hook.span() + 2*m.cfg.WebhookTimeout
}

// maybeTrigger decides the trigger of the first of a model's versions
// whose episode is due, one per model at a time, on the leader alone;
// under mu.
func (m *Monitor) maybeTrigger(name string, w *watch, now time.Time) {
	if w.sending || m.closed || (m.fleet != nil && !m.fleet.Leading()) {
		return
	}
	for _, num := range slices.Sorted(maps.Keys(w.versions)) {
		wv := w.versions[num]
		if wv.live != nil && wv.tr.due(now, time.Duration(w.spec.Trigger.DriftingFor)) {
			m.fire(name, w, wv, now)
			return
		}
	}
}

// fire decides one episode's trigger against the record of the model's
// last one: another delivery still sending (wait for it), already sent (a
// restart, or a new leader), coalesced inside the cooldown, or delivered
// by a goroutine of its own; under mu.
func (m *Monitor) fire(name string, w *watch, wv *watched, now time.Time) {
	num := wv.ver.Number()
	t := Trigger{ID: episodeID(name, num, wv.tr.driftingSince), Model: name, Version: num, Time: now.UTC(),
		Reason: fmt.Sprintf("version %d drifting for %v: %s", num, now.Sub(wv.tr.driftingSince).Round(time.Second), wv.reason)}
	rec, rev, ok := m.record(name, w)
	sending := ok && rec.Outcome == OutcomeSending
	switch {
	case sending && now.Sub(rec.Time) < m.lostAfter():
		// Its outcome decides this trigger's: the same episode sent, or
		// the cooldown started. This replica's own deliveries never
		// overlap (w.sending), so it is an old leader's, or one of this
		// replica's that could not record how it ended.
		wv.tr.retryAt = rec.Time.Add(m.lostAfter())
		return
	case ok && rec.ID == t.ID && starts(rec.Outcome):
		wv.tr.fired = true
		m.log.Info("drift trigger already "+rec.Outcome+" for this episode", "model", name, "version", num, "id", t.ID, "at", rec.Time)
		return
	case ok && starts(rec.Outcome) && now.Sub(rec.Time) < time.Duration(w.spec.Trigger.Cooldown):
		wv.tr.fired = true
		t.Outcome = OutcomeCoalesced
		w.latest = &t
		m.metrics.triggers.WithLabelValues(name, reasonDrifting, OutcomeCoalesced).Inc()
		m.log.Info("drift trigger", "model", name, "version", num, "id", t.ID, "reason", t.Reason, "outcome", OutcomeCoalesced,
			"last", rec.ID, "cooldown_until", rec.Time.Add(time.Duration(w.spec.Trigger.Cooldown)))
		return
	case sending:
		m.log.Warn("drift trigger: the last one's delivery never recorded how it ended; taking it as failed",
			"model", name, "last", rec.ID, "since", rec.Time, "id", t.ID)
	}
	wv.tr.fired = true
	w.sending = true
	d := delivery{name: name, w: w, t: t, rev: rev, url: w.spec.Trigger.Webhook, fleet: m.fleet, ev: newEvent(m.source, t, wv.view)}
	m.wg.Add(1)
	go m.deliver(d)
}

// delivery is one trigger on its way.
type delivery struct {
	name  string
	w     *watch
	t     Trigger
	rev   int64  // the fleet's record as fire read it: the claim compares with it
	url   string // "": log only
	fleet Fleet  // as when the trigger fired
	ev    Event
}

// with is t with outcome o.
func with(t Trigger, o string) Trigger {
	t.Outcome = o
	return t
}

// deliver claims the episode in the record as sending (so that no other
// replica sends it meanwhile), sends its event, and records how that
// ended. Its outcome is logged and counted. A panic is logged, and the
// trigger counts as failed.
func (m *Monitor) deliver(d delivery) {
	defer m.wg.Done()
	outcome, err := OutcomeFailed, error(nil)
	defer func() {
		if v := recover(); v != nil {
			outcome, err = OutcomeFailed, fmt.Errorf("delivery panicked: %v", v)
			m.log.Error("drift trigger delivery panicked", "model", d.name, "id", d.t.ID, "panic", v, "stack", string(debug.Stack()))
		}
		m.finish(d, outcome, err)
	}()
	if d.url == "" {
		if _, err = m.writeRecord(m.ctx, d, with(d.t, OutcomeLogged), d.rev); err != nil {
			err = fmt.Errorf("recording the logged trigger: %w", err)
			return
		}
		outcome = OutcomeLogged
		return
	}
	var rev int64
	if rev, err = m.writeRecord(m.ctx, d, with(d.t, OutcomeSending), d.rev); err != nil {
		err = fmt.Errorf("recording the trigger before sending it: %w", err)
		return
	}
	if err = m.hook.send(m.ctx, d.url, d.ev); err == nil {
		outcome = OutcomeSent
	}
	// Recorded even while Close stops the monitor: a claim left sending
	// holds the episode back until lostAfter.
	if _, werr := m.writeRecord(context.WithoutCancel(m.ctx), d, with(d.t, outcome), rev); werr != nil {
		err = errors.Join(err, fmt.Errorf("recording the trigger %s: %w", outcome, werr))
	}
}

// finish records a delivery's outcome: a failed one lets the episode try
// again after retryAfter, unless the episode has ended meanwhile. The
// version's tracker is looked up afresh: a reload during the delivery
// carried it into a new watched.
func (m *Monitor) finish(d delivery, outcome string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d.w.sending = false
	w := d.w
	if cur := m.watched[d.name]; cur != nil {
		w = cur
	}
	t := with(d.t, outcome)
	w.latest = &t
	if wv := w.versions[t.Version]; outcome == OutcomeFailed && wv != nil && wv.live != nil && episodeID(d.name, t.Version, wv.tr.driftingSince) == t.ID {
		wv.tr.fired = false
		wv.tr.retryAt = t.Time.Add(m.retryAfter)
	}
	m.metrics.triggers.WithLabelValues(d.name, reasonDrifting, outcome).Inc()
	m.showTrigger(d.name, w)
	args := []any{"model", d.name, "version", t.Version, "id", t.ID, "reason", t.Reason, "outcome", outcome}
	switch {
	case err != nil:
		m.log.Warn("drift trigger", append(args, "err", err, "retry_after", m.retryAfter)...)
	case d.url != "":
		m.log.Info("drift trigger", append(args, "webhook", d.url)...)
	default:
		m.log.Info("drift trigger", append(args, "webhook", "none: drift.trigger.webhook is not set")...)
	}
	select {
	case m.delivered <- struct{}{}:
	default: // nobody waits (nil), or a signal is already pending
	}
}

// showTrigger puts the model's last trigger in the latest snapshot at
// once, rather than at the next evaluation; under mu.
func (m *Monitor) showTrigger(name string, w *watch) {
	old := m.snap.Load()
	mv, ok := old.models[name]
	if !ok {
		return
	}
	next := *old
	next.models = maps.Clone(old.models)
	mv.LastTrigger = m.lastTrigger(name, w)
	next.models[name] = mv
	m.snap.Store(&next)
}

// record is the model's last trigger of record and its revision: the
// fleet's, or the file this replica keeps when alone (revision 0); under
// mu.
func (m *Monitor) record(name string, w *watch) (Trigger, int64, bool) {
	if m.fleet != nil {
		return m.fleet.LastTrigger(name)
	}
	if !w.loaded {
		w.loaded = true
		b, err := os.ReadFile(m.recordFile(name))
		var t Trigger
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err == nil && json.Unmarshal(b, &t) == nil:
			w.record = &t
		default:
			m.log.Error("reading the last drift trigger; the cooldown starts afresh", "model", name, "file", m.recordFile(name), "err", cmpErr(err, "not a trigger record"))
		}
	}
	if w.record == nil {
		return Trigger{}, 0, false
	}
	return *w.record, 0, true
}

func cmpErr(err error, otherwise string) any {
	if err != nil {
		return err
	}
	return otherwise
}

func (m *Monitor) recordFile(model string) string {
	return filepath.Join(m.dir, model+".json")
}

// writeRecord makes t the model's trigger of record, within
// WebhookTimeout of ctx: in the fleet's store, if the record is still at
// revision rev (compare and swap: an error means another replica wrote
// since), answering its new revision; or in the file. Called by a
// delivery, not under mu.
func (m *Monitor) writeRecord(ctx context.Context, d delivery, t Trigger, rev int64) (int64, error) {
	if d.fleet != nil {
		ctx, cancel := context.WithTimeout(ctx, m.cfg.WebhookTimeout)
		defer cancel()
		return d.fleet.WriteTrigger(ctx, d.name, t, rev)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := atomicfile.Write(m.recordFile(d.name), b); err != nil {
		return 0, err
	}
	m.mu.Lock()
	d.w.record = &t
	m.mu.Unlock()
	return 0, nil
}

// lastTrigger is what the view shows: the newer of the record and this
// replica's latest decision (a coalesced trigger is never recorded, as it
// must not move the cooldown); under mu.
func (m *Monitor) lastTrigger(name string, w *watch) *Trigger {
	rec, _, ok := m.record(name, w)
	switch {
	case w.latest != nil && (!ok || !w.latest.Time.Before(rec.Time)):
		t := *w.latest
		return &t
	case ok:
		return &rec
	}
	return nil
}
