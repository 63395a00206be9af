package soak

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Report accounts for every call of a soak.
type Report struct {
	Duration time.Duration `json:"duration_ns"`
	Sent     int64         `json:"sent"`
	// Skipped calls found every sender busy and were not sent.
	Skipped int64                    `json:"skipped"`
	Status  map[int]int64            `json:"answered_by_status"`
	ByKind  map[string]map[int]int64 `json:"by_kind"`
	// Versions counts student-success answers by the version that served.
	Versions map[string]int64 `json:"student_versions"`
	// NoAnswerRestart: no answer, while the server was intentionally down
	// (connection refused, or cut before the server read the call: it has
	// no record of answering it).
	NoAnswerRestart int64 `json:"no_answer_during_restarts"`
	// RefusedRestart: answered other than 200 while a restart was under
	// way (readiness, draining, models still loading).
	RefusedRestart int64 `json:"refused_during_restarts"`
	// RefusedLoad: 503 or 429 outside restarts: overload refusals.
	RefusedLoad int64 `json:"refused_for_load"`
	// Lost: no answer reached the client, outside a restart, or although
	// the server logged an answer. Must be 0.
	Lost int64 `json:"lost"`
	// Unexpected lists what breaks the soak's promise, the first few of
	// each sort: lost calls, answers no restart or overload explains, and
	// server log lines that should not be there.
	Unexpected []string                `json:"unexpected"`
	Actions    map[string]*ActionCount `json:"actions"`
	Servers    int                     `json:"servers"` // incarnations: restarts + 1
	Samples    []Sample                `json:"samples"`

	mu       sync.Mutex // guards everything while the soak runs
	failures []failure  // calls with no answer
	nonOK    []answer   // calls answered other than 200
}

// ActionCount is how often an action ran and failed.
type ActionCount struct {
	Done      int    `json:"done"`
	Failed    int    `json:"failed"`
	LastError string `json:"last_error,omitempty"`
}

// Sample is the server's state at one moment.
type Sample struct {
	At          time.Duration `json:"at_ns"`
	Incarnation int           `json:"incarnation"`
	RSS         int64         `json:"rss_bytes"`
	Goroutines  int64         `json:"goroutines"`
}

type failure struct {
	id, kind   string
	start, end time.Time
	err        string
}

type answer struct {
	kind   string
	status int
	at     time.Time
}

// Bounds of what a report keeps: at most this many calls to look up
// afterwards, and this many lines of each sort of unexpected event.
const (
	maxKept       = 100_000
	maxUnexpected = 10
)

func newReport() *Report {
	return &Report{Status: map[int]int64{}, ByKind: map[string]map[int]int64{}, Versions: map[string]int64{}, Actions: map[string]*ActionCount{}}
}

func (r *Report) skip() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Skipped++
}

func (r *Report) answered(kind string, status int, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Sent++
	r.Status[status]++
	if r.ByKind[kind] == nil {
		r.ByKind[kind] = map[int]int64{}
	}
	r.ByKind[kind][status]++
	if status == 200 && strings.HasPrefix(kind, "student") {
		r.Versions[version]++
	}
	if status != 200 {
		if len(r.nonOK) < maxKept {
			r.nonOK = append(r.nonOK, answer{kind, status, time.Now()})
		} else {
			r.Lost++ // cannot be accounted for: counted against the soak
		}
	}
}

func (r *Report) failed(f failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Sent++
	if len(r.failures) < maxKept {
		r.failures = append(r.failures, f)
	} else {
		r.Lost++
	}
}

func (r *Report) acted(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.Actions[name]
	if a == nil {
		a = &ActionCount{}
		r.Actions[name] = a
	}
	a.Done++
	if err != nil {
		a.Failed++
		a.LastError = err.Error()
	}
}

func (r *Report) sampled(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Samples = append(r.Samples, s)
}

func (r *Report) unexpected(format string, args ...any) {
	if len(r.Unexpected) < 3*maxUnexpected {
		r.Unexpected = append(r.Unexpected, fmt.Sprintf(format, args...))
	}
}

// settle accounts for the calls with no answer and the refusals, once
// every restart window is known and the servers' logs are complete.
func (s *soaker) settle(sup *supervisor) error {
	answeredBy, bad, err := readServerLogs(sup.logs)
	if err != nil {
		return err
	}
	r := s.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Servers = sup.incarnations()
	for _, line := range bad {
		r.unexpected("server log: %s", line)
	}
	lost := 0
	for _, f := range r.failures {
		status, logged := answeredBy[f.id]
		switch {
		case logged:
			r.Lost++
			if lost++; lost <= maxUnexpected {
				r.unexpected("lost: %s (%s) was answered %d by the server but the client got %s", f.id, f.kind, status, f.err)
			}
		case sup.down(f.start) || sup.down(f.end):
			r.NoAnswerRestart++
		default:
			r.Lost++
			if lost++; lost <= maxUnexpected {
				r.unexpected("lost: %s (%s) had no answer outside any restart (sent %s, failed %s): %s",
					f.id, f.kind, f.start.Format(time.TimeOnly), f.end.Format("15:04:05.000"), f.err)
			}
		}
	}
	odd := 0
	for _, a := range r.nonOK {
		switch {
		case sup.down(a.at):
			r.RefusedRestart++
		case a.status == 503 || a.status == 429:
			r.RefusedLoad++
		default:
			if odd++; odd <= maxUnexpected {
				r.unexpected("answer %d to %s at %s, outside any restart", a.status, a.kind, a.at.Format("15:04:05.000"))
			}
		}
	}
	if odd > 0 {
		r.unexpected("%d answers in all no restart or overload explains", odd)
	}
	return nil
}

// readServerLogs reads every incarnation's log: the status each request id
// was answered with, and the lines that should not be there (errors, a
// drain that ran out of time, panics).
func readServerLogs(dir string) (map[string]int, []string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "serve-*.log"))
	if err != nil {
		return nil, nil, err
	}
	answered := map[string]int{}
	var bad []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var rec struct {
				Level     string `json:"level"`
				Msg       string `json:"msg"`
				RequestID string `json:"request_id"`
				Status    int    `json:"status"`
			}
			line := sc.Bytes()
			if json.Unmarshal(line, &rec) != nil {
				continue
			}
			switch {
			case rec.Msg == "access" && strings.HasPrefix(rec.RequestID, "soak-"):
				answered[rec.RequestID] = rec.Status
			case rec.Level == "ERROR" || strings.Contains(rec.Msg, "still open after the drain") || bytes.Contains(line, []byte("panic")):
				if len(bad) < maxUnexpected {
					bad = append(bad, filepath.Base(p)+": "+string(line))
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return answered, bad, nil
}

// Err is nil when the soak kept its promise: nothing lost, every failure
// explained.
func (r *Report) Err() error {
	if r.Lost == 0 && len(r.Unexpected) == 0 {
		return nil
	}
	return fmt.Errorf("soak: %d calls lost, %d unexpected events: %s", r.Lost, len(r.Unexpected), strings.Join(r.Unexpected, "; "))
}

// Markdown writes the report as the tables docs/reliability.md shows.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "| calls | count |\n|---|---:|\n")
	fmt.Fprintf(w, "| sent | %d (%.0f/s over %v) |\n", r.Sent, float64(r.Sent)/r.Duration.Seconds(), r.Duration.Round(time.Second))
	for _, st := range slices.Sorted(maps.Keys(r.Status)) {
		fmt.Fprintf(w, "| answered %d | %d |\n", st, r.Status[st])
	}
	fmt.Fprintf(w, "| of which non-200 during a restart (expected) | %d |\n", r.RefusedRestart)
	fmt.Fprintf(w, "| of which 503/429 outside restarts (overload, expected) | %d |\n", r.RefusedLoad)
	fmt.Fprintf(w, "| no answer while the server was intentionally down (expected) | %d |\n", r.NoAnswerRestart)
	fmt.Fprintf(w, "| **lost** (no answer otherwise) | **%d** |\n", r.Lost)
	fmt.Fprintf(w, "| not sent (every sender busy) | %d |\n", r.Skipped)
	fmt.Fprintf(w, "\n| kind | answers by status |\n|---|---|\n")
	for _, k := range slices.Sorted(maps.Keys(r.ByKind)) {
		fmt.Fprintf(w, "| %s | %s |\n", k, statusList(r.ByKind[k]))
	}
	var vs []string
	for _, v := range slices.Sorted(maps.Keys(r.Versions)) {
		vs = append(vs, fmt.Sprintf("v%s: %d", v, r.Versions[v]))
	}
	fmt.Fprintf(w, "\nstudent-success answers by serving version: %s.\n", strings.Join(vs, ", "))
	fmt.Fprintf(w, "\n| action | done | failed | last error |\n|---|---:|---:|---|\n")
	for _, a := range slices.Sorted(maps.Keys(r.Actions)) {
		c := r.Actions[a]
		fmt.Fprintf(w, "| %s | %d | %d | %s |\n", a, c.Done, c.Failed, c.LastError)
	}
	fmt.Fprintf(w, "\nServers run: %d (one start and %d restarts).\n", r.Servers, max(r.Servers-1, 0))
	fmt.Fprintf(w, "\n| time | server | resident memory | goroutines |\n|---:|---:|---:|---:|\n")
	step := max(len(r.Samples)/20, 1) // about twenty rows, the last always
	for i, s := range r.Samples {
		if i%step == 0 || i == len(r.Samples)-1 {
			fmt.Fprintf(w, "| %v | %d | %.0f MB | %d |\n", s.At.Round(time.Second), s.Incarnation, float64(s.RSS)/1e6, s.Goroutines)
		}
	}
	if len(r.Unexpected) > 0 {
		fmt.Fprintf(w, "\nUnexpected:\n\n")
		for _, u := range r.Unexpected {
			fmt.Fprintf(w, "- %s\n", u)
		}
	}
}

func statusList(m map[int]int64) string {
	var parts []string
	for _, st := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, strconv.Itoa(st)+": "+strconv.FormatInt(m[st], 10))
	}
	return strings.Join(parts, ", ")
}
