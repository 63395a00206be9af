package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/runtime/ortest"
)

// watchLines collects a command's JSON log and passes on the "addr" of the
// first line that has one.
type watchLines struct {
	mu    sync.Mutex // guards lines, rest and sent
	lines []map[string]any
	rest  []byte
	sent  bool
	addr  chan string // cap 1
}

func (l *watchLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	eachLine(&l.rest, p, func(line []byte) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			return
		}
		l.lines = append(l.lines, rec)
		if a, ok := rec["addr"].(string); ok && !l.sent {
			l.sent = true
			l.addr <- a
		}
	})
	return len(p), nil
}

// with is the lines whose msg is msg.
func (l *watchLines) with(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, rec := range l.lines {
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// waitFor polls the log, with a deadline, until msg has appeared n times.
func (l *watchLines) waitFor(t *testing.T, msg string, n int, within time.Duration) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		if got := l.with(msg); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("%q logged fewer than %d times in %v; the log:\n%v", msg, n, within, l.lines)
		}
	}
}

// `sluice pipeline watch` runs the real `sluice pipeline run` (this test
// binary as sluice) once on a file that lands in its folder, which
// publishes a version with a profile trained on that file; events within
// the cooldown are merged and wait, and a repeated id is a duplicate.
func TestPipelineWatchRunsOnNewData(t *testing.T) {
	ortest.Init(t)
	t.Setenv(asMain, "1") // the child is this binary, acting as sluice
	incoming, repo, runDir := t.TempDir(), t.TempDir(), t.TempDir()
	if out, err := pipelineRun(t, "gen-data", "-out", filepath.Join(incoming, "old.csv"), "-rows", "10"); err != nil {
		t.Fatalf("gen-data: %v\n%s", err, out)
	}
	logs := &watchLines{addr: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pipelineCmd(ctx, []string{"watch", "-data-dir", incoming, "-listen", "127.0.0.1:0", "-poll", "50ms", "-cooldown", "1h",
			"-log-format", "json", "--", "-run", runDir, "-repository", repo, "-kind", "logreg"}, os.Environ(), &bytes.Buffer{}, logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline watch returned %v", err)
		}
	})
	var addr string
	select {
	case addr = <-logs.addr:
	case err := <-done:
		t.Fatalf("pipeline watch returned before it listened: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline watch never said where it listens")
	}
	// A writer that renames a finished file into place: the hidden name
	// is never read.
	hidden := filepath.Join(incoming, ".batch1.csv")
	if out, err := pipelineRun(t, "gen-data", "-out", hidden, "-rows", "1000", "-seed", "11"); err != nil {
		t.Fatalf("gen-data: %v\n%s", err, out)
	}
	landed := filepath.Join(incoming, "batch1.csv")
	if err := os.Rename(hidden, landed); err != nil {
		t.Fatal(err)
	}
	fin := logs.waitFor(t, "retraining run finished", 1, 2*time.Minute)
	if fin[0]["outcome"] != "ok" || fin[0]["file"] != landed {
		t.Fatalf("the run on batch1.csv: %v; its output:\n%v", fin[0], logs.with("pipeline run"))
	}
	if started := logs.with("retraining run started"); len(started) != 1 || started[0]["id"] != "batch1.csv" {
		t.Errorf("runs started: %v, want one, for batch1.csv", started)
	}
	checkWatchPublished(t, repo, landed)
	streamed := false
	for _, rec := range logs.with("pipeline run") {
		line, _ := rec["line"].(string)
		streamed = streamed || strings.HasPrefix(line, "publish ") && strings.Contains(line, "done")
	}
	if !streamed {
		t.Errorf("the child's output did not reach the log: %v", logs.with("pipeline run"))
	}

	post := func(id string) int {
		body := `{"specversion":"1.0","type":"io.sluice.drift.drifting","source":"/sluice/a","id":"` + id + `","data":{"reason":"sem1_grade PSI 0.41 > 0.25"}}`
		resp, err := http.Post("http://"+addr, "application/cloudevents+json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("student-success-1-1718000000"); got != http.StatusAccepted {
		t.Errorf("drift event: %d, want 202", got)
	}
	if got := post("student-success-1-1718000000"); got != http.StatusOK {
		t.Errorf("the same event again: %d, want 200", got)
	}
	co := logs.waitFor(t, "retraining trigger coalesced", 1, 10*time.Second)
	if because, _ := co[0]["because"].(string); !strings.HasPrefix(because, "cooldown until") {
		t.Errorf("the event within the cooldown was coalesced because %q, want the cooldown", because)
	}
	if n := len(logs.with("retraining run started")); n != 1 {
		t.Errorf("%d runs started, want 1 (the event waits for the cooldown)", n)
	}
}

// checkWatchPublished reads version 1 of student-success in repo: its card has
// a profile, and was trained on data (its data hash is the file's).
func checkWatchPublished(t *testing.T, repo, data string) {
	t.Helper()
	card, err := os.ReadFile(filepath.Join(repo, "student-success", "1", "model_card.json"))
	if err != nil {
		t.Fatalf("no version 1 published: %v", err)
	}
	var c struct {
		DataHash string `json:"data_hash"`
	}
	if err := json.Unmarshal(card, &c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := "sha256:" + hex.EncodeToString(sum[:]); c.DataHash != want {
		t.Errorf("version 1 was trained on data %s, want %s (%s)", c.DataHash, want, data)
	}
	if p, err := profile.FromCard(card); err != nil || p == nil || len(p.Features) != 8 {
		t.Errorf("version 1's card profile: %v, %v", p, err)
	}
}

// Flags the run would refuse are refused at start, and so is -data, which
// the watcher sets.
func TestPipelineWatchChecksItsFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		args  []string
		names string
	}{
		{"no folder", []string{"--", "-run", dir}, "-data-dir"},
		{"missing folder", []string{"-data-dir", filepath.Join(dir, "absent"), "--", "-run", dir}, "-data-dir"},
		{"data after --", []string{"-data-dir", dir, "--", "-run", dir, "-data", "x.csv"}, "-data after --"},
		{"data= after --", []string{"-data-dir", dir, "--", "-run", dir, "--data=x.csv"}, "-data after --"},
		{"no run folder", []string{"-data-dir", dir, "--", "-kind", "logreg"}, "-run"},
		{"bad run flag", []string{"-data-dir", dir, "--", "-run", dir, "-kind", "forest"}, "forest"},
		{"run flags without --", []string{"-data-dir", dir, "-run", dir}, "-run"},
		{"bad poll", []string{"-data-dir", dir, "-poll", "0s", "--", "-run", dir}, "-poll"},
		{"bad log format", []string{"-data-dir", dir, "-log-format", "xml", "--", "-run", dir}, "-log-format"},
		{"bad listen", []string{"-data-dir", dir, "-listen", "nowhere", "--", "-run", dir}, "-listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			err := pipelineCmd(context.Background(), append([]string{"watch"}, tt.args...), nil, &bytes.Buffer{}, &errOut)
			if err == nil || !strings.Contains(err.Error()+errOut.String(), tt.names) {
				t.Errorf("err %v (%s), want an error naming %q", err, errOut.String(), tt.names)
			}
		})
	}
}
