package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Event types a Watcher names: the gateway's drift monitor sends the first
// when a served version drifts; the second is a data file landing in the
// watched folder.
const (
	DriftEventType  = "io.sluice.drift.drifting"
	DataArrivedType = "io.sluice.data.arrived"
)

// WatchConfig says what a Watcher watches and how often it may retrain.
type WatchConfig struct {
	Folder   string        // where new data files land
	Pattern  string        // which names in Folder are data files (filepath.Match)
	Poll     time.Duration // how often the folder is read: the period of the ticks Run is given
	Cooldown time.Duration // the least time between the starts of two runs
	Token    string        // the bearer token events must carry; "" takes any
}

// DefaultWatchConfig polls for CSV files every 2s and retrains at most
// every 10 minutes.
func DefaultWatchConfig() WatchConfig {
	return WatchConfig{Pattern: "*.csv", Poll: 2 * time.Second, Cooldown: 10 * time.Minute}
}

// Validate names the setting that is wrong.
func (c WatchConfig) Validate() error {
	if _, err := filepath.Match(c.Pattern, ""); err != nil || c.Pattern == "" {
		return fmt.Errorf("-pattern: %q, expected a file name pattern such as *.csv", c.Pattern)
	}
	switch {
	case c.Folder == "":
		return errors.New("-data-dir: empty, expected the folder new data files land in")
	case c.Poll <= 0:
		return fmt.Errorf("-poll: %v, expected a positive duration", c.Poll)
	case c.Cooldown < 0:
		return fmt.Errorf("-cooldown: %v, expected 0 or more", c.Cooldown)
	}
	return nil
}

// Trigger is why a retraining run starts, and the data it trains on.
type Trigger struct {
	Reason string // what happened; the reasons of merged triggers joined by "; "
	ID     string // the CloudEvent's id, or the data file's name; merged ones joined by ","
	Type   string // the CloudEvent's type, or DataArrivedType; merged distinct ones joined by ","
	File   string // the newest settled data file when the run starts
}

// maxMerged bounds the reasons one pending run keeps; later triggers are
// counted only.
const maxMerged = 16

// Watcher starts retraining runs when data lands in a folder or an event
// (a CloudEvent, such as the gateway's drift trigger) arrives, one run at
// a time and at most one per cooldown: triggers that come while a run is
// going, or before the cooldown since the last start has passed, are
// merged into the one pending run.
//
// Its clock is the ticks Run is given: the latest tick is "now" for the
// cooldown, so a test drives it with chosen times. Run is called once;
// the Handler may take events before it starts.
type Watcher struct {
	cfg WatchConfig
	run func(ctx context.Context, t Trigger) error
	log *slog.Logger

	// mu guards the state the event handler and Run share: the data files
	// seen, the pending triggers, whether a run is going and when the last
	// started, the clock, and the event ids seen. Nothing blocks under it.
	mu      sync.Mutex
	files   map[string]fileState // by name; only names matching the pattern
	pending *merged              // nil when no run waits
	running bool
	started time.Time // the tick that started the last run; zero before the first
	now     time.Time // the latest tick
	ids     idSet
	pollErr string // the last poll's error, logged once until it changes
	arrived int64  // files settled since the start
}

// fileState is one data file as the polls saw it.
type fileState struct {
	size    int64
	mod     time.Time
	settled bool  // present at start, or unchanged across two polls
	arrival int64 // 0 for the baseline, else the count of files settled so far: later is newer
}

// NewWatcher reads the folder once: the files there now are the baseline,
// which never trigger but are data a run may use. run is called for each
// run, with a context that ends when Run's does.
func NewWatcher(cfg WatchConfig, run func(ctx context.Context, t Trigger) error, log *slog.Logger) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if run == nil {
		return nil, errors.New("watcher: no run function")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{cfg: cfg, run: run, log: log, files: map[string]fileState{}, ids: newIDSet(maxEventIDs)}
	found, err := w.scan()
	if err != nil {
		return nil, fmt.Errorf("-data-dir: %w", err)
	}
	for name, st := range found {
		st.settled = true
		w.files[name] = st
	}
	return w, nil
}

// Run polls the folder and starts the pending run, if one is due, on every
// tick later than the one before, until ctx ends (it returns ctx's error)
// or ticks closes (nil). It waits for a run in progress before returning;
// the run's context ends with ctx.
func (w *Watcher) Run(ctx context.Context, ticks <-chan time.Time) error {
	w.mu.Lock()
	w.log.Info("watching for data and events", "folder", w.cfg.Folder, "pattern", w.cfg.Pattern,
		"baseline_files", len(w.files), "newest", w.newest(), "cooldown", w.cfg.Cooldown.String())
	w.mu.Unlock()
	done := make(chan error, 1) // one run at a time: its send never blocks
	var current *Trigger
	var startedAt time.Time
	finish := func(err error) {
		w.finish(*current, err, time.Since(startedAt))
		current = nil
	}
	defer func() {
		if current != nil {
			finish(<-done)
		}
	}()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			finish(err)
		case now, ok := <-ticks:
			if !ok {
				return nil
			}
			if !now.After(last) {
				continue // time did not move: nothing can have become due
			}
			last = now
			w.poll(now)
			if t, ok := w.due(now); ok {
				current, startedAt = &t, time.Now()
				go w.runOne(ctx, t, done)
			}
		}
	}
}

// runOne is one run's goroutine, owned by Run, which waits for its result;
// a panic in the run is its failure, not the process's end.
func (w *Watcher) runOne(ctx context.Context, t Trigger, done chan<- error) {
	var err error
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("retraining run panicked: %v", r)
		}
		done <- err
	}()
	err = w.run(ctx, t)
}

func (w *Watcher) finish(t Trigger, err error, took time.Duration) {
	w.mu.Lock()
	w.running = false
	w.mu.Unlock()
	rounded := took.Round(time.Millisecond).String()
	if err != nil {
		w.log.Error("retraining run finished", "outcome", "failed", "err", err, "id", t.ID, "file", t.File, "took", rounded)
		return
	}
	w.log.Info("retraining run finished", "outcome", "ok", "id", t.ID, "file", t.File, "took", rounded)
}

// due takes the pending triggers as one run when none is going, the
// cooldown since the last start has passed, and there is data to train on.
func (w *Watcher) due(now time.Time) (Trigger, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil || w.running || w.cooling() {
		return Trigger{}, false
	}
	file := w.newest()
	if file == "" {
		if !w.pending.waiting {
			w.pending.waiting = true
			w.log.Warn("retraining waits for a data file", "folder", w.cfg.Folder, "pattern", w.cfg.Pattern)
		}
		return Trigger{}, false
	}
	t := w.pending.trigger(file)
	w.pending, w.running, w.started = nil, true, now
	w.log.Info("retraining run started", "reason", t.Reason, "id", t.ID, "type", t.Type, "file", t.File)
	return t, true
}

// cooling reports whether the cooldown since the last start is still on;
// mu held.
func (w *Watcher) cooling() bool {
	return !w.started.IsZero() && w.now.Before(w.started.Add(w.cfg.Cooldown))
}

// add merges t into the pending run; mu held. Every trigger is logged, and
// one that does not start a run of its own is logged as coalesced.
func (w *Watcher) add(t Trigger) {
	w.log.Info("retraining trigger", "reason", t.Reason, "id", t.ID, "type", t.Type)
	var why string
	switch {
	case w.running:
		why = "a run is in progress"
	case w.cooling():
		why = "cooldown until " + w.started.Add(w.cfg.Cooldown).Format(time.RFC3339)
	case w.pending != nil:
		why = "a run is already pending"
	}
	if w.pending == nil {
		w.pending = &merged{}
	}
	w.pending.add(t)
	if why != "" {
		w.log.Info("retraining trigger coalesced", "id", t.ID, "because", why, "pending_triggers", w.pending.count())
	}
}

// merged is the triggers of the one pending run.
type merged struct {
	reasons, ids, types []string // of the first maxMerged triggers
	more                int      // triggers past those
	waiting             bool     // "waits for a data file" was logged
}

func (m *merged) add(t Trigger) {
	if len(m.reasons) >= maxMerged {
		m.more++
		return
	}
	m.reasons, m.ids = append(m.reasons, t.Reason), append(m.ids, t.ID)
	for _, ty := range m.types {
		if ty == t.Type {
			return
		}
	}
	m.types = append(m.types, t.Type)
}

func (m *merged) count() int { return len(m.reasons) + m.more }

func (m *merged) trigger(file string) Trigger {
	reason := strings.Join(m.reasons, "; ")
	if m.more > 0 {
		reason += fmt.Sprintf("; and %d more", m.more)
	}
	return Trigger{Reason: reason, ID: strings.Join(m.ids, ","), Type: strings.Join(m.types, ","), File: file}
}

// poll reads the folder: a new file that has not changed since the last
// poll is settled and triggers a run; files gone are forgotten.
func (w *Watcher) poll(now time.Time) {
	found, err := w.scan()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = now
	if err != nil {
		if err.Error() != w.pollErr {
			w.pollErr = err.Error()
			w.log.Warn("reading the data folder", "folder", w.cfg.Folder, "err", err)
		}
		return
	}
	w.pollErr = ""
	for name := range w.files {
		if _, ok := found[name]; !ok {
			delete(w.files, name)
		}
	}
	for name, st := range found {
		old, seen := w.files[name]
		switch {
		case seen && old.settled:
			st.settled, st.arrival = true, old.arrival
		case seen && old.size == st.size && old.mod.Equal(st.mod):
			w.arrived++
			st.settled, st.arrival = true, w.arrived
			w.add(Trigger{Reason: fmt.Sprintf("new data file %s (%d bytes)", name, st.size), ID: name, Type: DataArrivedType})
		}
		w.files[name] = st
	}
}

// scan lists the folder's data files: regular files (or links to them)
// whose names match the pattern, leaving out hidden ones, which writers
// use for files not yet complete.
func (w *Watcher) scan() (map[string]fileState, error) {
	entries, err := os.ReadDir(w.cfg.Folder)
	if err != nil {
		return nil, err
	}
	found := make(map[string]fileState, len(entries))
	for _, e := range entries {
		name := e.Name()
		if ok, _ := filepath.Match(w.cfg.Pattern, name); !ok || strings.HasPrefix(name, ".") {
			continue
		}
		info, err := os.Stat(filepath.Join(w.cfg.Folder, name))
		if err != nil || !info.Mode().IsRegular() {
			continue // gone since the listing, or not a file
		}
		found[name] = fileState{size: info.Size(), mod: info.ModTime()}
	}
	return found, nil
}

// newest is the settled data file that arrived last, or of the baseline
// the one modified last (the greater name on a tie), as a path; "" when
// there is none. Arrival, not modification time, orders landed files: a
// copy that keeps its old modification time is still the new data. mu
// held.
func (w *Watcher) newest() string {
	var best string
	var top fileState
	for name, st := range w.files {
		if !st.settled {
			continue
		}
		if best == "" || st.arrival > top.arrival || (st.arrival == top.arrival &&
			(st.mod.After(top.mod) || (st.mod.Equal(top.mod) && name > best))) {
			best, top = name, st
		}
	}
	if best == "" {
		return ""
	}
	return filepath.Join(w.cfg.Folder, best)
}
