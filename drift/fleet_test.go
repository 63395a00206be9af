package drift

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/registry"
)

// fakeFleet is a fleet of this replica and others whose windows the test
// sets, with a trigger record it keeps as etcd would: each write moves
// the model's revision on, a write made on an older revision is refused,
// and one whose context has ended fails.
type fakeFleet struct {
	mu       sync.Mutex // guards every field: a delivery writes while the test reads
	leading  bool
	windows  map[string][]WindowSet
	last     map[string]Trigger
	revs     map[string]int64 // each model's record's revision; 0 with none
	writes   []Trigger
	writeErr error
	// failWrite, when set, says whether a write of t fails; afterRead runs
	// after every LastTrigger, under mu: another replica acting then.
	failWrite func(t Trigger) bool
	afterRead func(f *fakeFleet)
}

func newFakeFleet(leading bool) *fakeFleet {
	return &fakeFleet{leading: leading, windows: map[string][]WindowSet{}, last: map[string]Trigger{}, revs: map[string]int64{}}
}

var _ Fleet = (*fakeFleet)(nil)

func (f *fakeFleet) Leading() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leading
}

func (f *fakeFleet) DriftWindows(key string) []WindowSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.windows[key]
}

func (f *fakeFleet) LastTrigger(model string) (Trigger, int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.last[model]
	rev := f.revs[model]
	if f.afterRead != nil {
		f.afterRead(f)
	}
	return t, rev, ok
}

func (f *fakeFleet) WriteTrigger(ctx context.Context, model string, t Trigger, rev int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case f.writeErr != nil:
		return 0, f.writeErr
	case f.failWrite != nil && f.failWrite(t):
		return 0, errors.New("the store cannot be reached")
	case rev != f.revs[model]:
		return 0, fmt.Errorf("the record is at revision %d, not %d", f.revs[model], rev)
	}
	f.put(model, t)
	f.writes = append(f.writes, t)
	return f.revs[model], nil
}

// put makes t model's record at the next revision; f.mu is held.
func (f *fakeFleet) put(model string, t Trigger) {
	f.last[model] = t
	f.revs[model]++
}

// outcomes are the outcomes of the records written, in order.
func (f *fakeFleet) outcomes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, t := range f.writes {
		out = append(out, t.Outcome)
	}
	return out
}

func (f *fakeFleet) set(fn func(f *fakeFleet)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// otherReplica is another replica's live profile of the same version:
// its windows are what coordination would hand the monitor.
func otherReplica(t *testing.T, start time.Time) *Live {
	t.Helper()
	p, sig := studentProfile(t)
	cfg := registry.DefaultModelConfig()
	if err := registry.ParseModelConfig([]byte(driftConfig("")), &cfg); err != nil {
		t.Fatal(err)
	}
	spec, err := ParseSpec(cfg.Drift, DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLive(p, sig, spec, start)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func sample(l *Live, seed uint64, rows int, shift float64) {
	rng := newRand(seed)
	for range rows / 50 {
		in, out := studentCall(rng, 50, shift)
		l.Sample(in, out)
	}
}

// TestMonitorMergesTheFleetAndOnlyTheLeaderTriggers: each replica alone
// holds fewer rows than min_rows, the merged window more; windows of
// another profile or slot are left out; a follower judges but never
// triggers; the leader records the trigger before it sends, and a failed
// record means no event.
func TestMonitorMergesTheFleetAndOnlyTheLeaderTriggers(t *testing.T) {
	p, _ := studentProfile(t)
	hook := newReceiver(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(hook.URL), card(p)}})
	fleet := newFakeFleet(false)
	m := newMonitor(t, reg, dir, nil).WithFleet(fleet)
	other := otherReplica(t, at(0))
	ctx := context.Background()
	tick := func(s int) {
		other.rotate(at(s))
		w := other.window()
		stale := w
		stale.Slot -= 5 // ended five slots earlier: a replica that stopped publishing
		foreign := w
		foreign.Profile = "another profile"
		fleet.set(func(f *fakeFleet) { f.windows["student/1"] = []WindowSet{w, stale, foreign} })
		m.Evaluate(ctx, at(s))
	}

	tick(0)
	feed(t, reg, "student", newRand(8), 300, 0)
	sample(other, 9, 300, 0)
	tick(1)
	mv := view(t, m, "student")
	if v := mv.Versions[0]; mv.Scope != ScopeFleet || mv.Replicas != 2 || v.Window.Rows != 600 || v.State != StateOK || v.Note != "" {
		t.Fatalf("merged in-distribution windows: %+v %+v", mv, v)
	}
	if own := m.DriftMeasurements()["student/1"]; own.Rows != 300 || own.Slot != at(1).Unix() || own.Profile != profileHash(p) {
		t.Errorf("this replica's own window for coordination: %+v", own)
	}

	tick(12)
	feed(t, reg, "student", newRand(10), 300, 0.5)
	sample(other, 11, 300, 0.5)
	for s := 13; s <= 16; s++ { // due at 16, were it leading
		tick(s)
	}
	waitIdle(t, m)
	if v := view(t, m, "student").Versions[0]; v.State != StateDrifting || len(hook.received()) != 0 || len(fleet.outcomes()) != 0 {
		t.Fatalf("a follower: %+v, %d events, %d records; want drifting and no trigger", v, len(hook.received()), len(fleet.outcomes()))
	}

	fleet.set(func(f *fakeFleet) { f.leading, f.writeErr = true, errors.New("the record changed since it was read") })
	tick(17)
	waitIdle(t, m)
	if len(hook.received()) != 0 || count(t, m, "student", OutcomeFailed) != 1 {
		t.Fatalf("a record that cannot be written: %d events, want none and the trigger failed", len(hook.received()))
	}

	fleet.set(func(f *fakeFleet) { f.writeErr = nil })
	tick(21)
	waitIdle(t, m)
	if len(hook.received()) != 0 {
		t.Fatalf("a retry before retryAfter")
	}
	tick(22) // retryAfter (5s) later; the window still holds the shifted calls
	waitIdle(t, m)
	got := hook.received()
	fleet.mu.Lock()
	writes := slices.Clone(fleet.writes)
	fleet.mu.Unlock()
	if len(got) != 1 || len(writes) != 2 || writes[0].ID != got[0].event.ID || writes[0].Outcome != OutcomeSending || writes[1].ID != got[0].event.ID ||
		writes[1].Outcome != OutcomeSent || got[0].event.ID != "student-1-"+itoa(at(13).Unix()) {
		t.Fatalf("the leader: %d events, records %+v; want the episode claimed sending, then sent", len(got), writes)
	}
	if lt := view(t, m, "student").LastTrigger; lt == nil || lt.ID != got[0].event.ID || lt.Outcome != OutcomeSent {
		t.Errorf("last trigger %+v", lt)
	}
}

// TestMonitorHonoursTheFleetsRecord: a new leader finds the episode's
// trigger recorded by the old one and sends nothing.
func TestMonitorHonoursTheFleetsRecord(t *testing.T) {
	p, _ := studentProfile(t)
	hook := newReceiver(t)
	reg, dir := studentRepo(t, map[string]model{"student": {driftConfig(hook.URL), card(p)}})
	id := "student-1-" + itoa(at(1).Unix())
	fleet := newFakeFleet(true)
	fleet.put("student", Trigger{ID: id, Model: "student", Version: 1, Outcome: OutcomeSent, Time: at(4)})
	m := newMonitor(t, reg, dir, nil).WithFleet(fleet)
	ctx := context.Background()
	m.Evaluate(ctx, at(0))
	feed(t, reg, "student", newRand(12), 600, 0.5)
	for s := 1; s <= 8; s++ {
		m.Evaluate(ctx, at(s))
	}
	waitIdle(t, m)
	if n := len(hook.received()); n != 0 || len(fleet.outcomes()) != 0 || count(t, m, "student", OutcomeCoalesced) != 0 {
		t.Errorf("an episode the old leader sent: %d events, %d records, want none", n, len(fleet.outcomes()))
	}
	if v := view(t, m, "student").Versions[0]; v.State != StateDrifting {
		t.Errorf("%+v, want drifting", v)
	}
}
