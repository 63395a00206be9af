package soak

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every call the client got no answer to is accounted for against the
// restart windows and what the servers logged they answered.
func TestSettleAccountsForEveryCall(t *testing.T) {
	dir := t.TempDir()
	log := `{"level":"INFO","msg":"access","request_id":"soak-2","status":200}
{"level":"INFO","msg":"serving KServe v2","addr":"127.0.0.1:1"}
{"level":"INFO","msg":"access","request_id":"other-1","status":200}
`
	if err := os.WriteFile(filepath.Join(dir, "serve-1.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serve-2.log"), []byte(`{"level":"ERROR","msg":"batch run panicked"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	sup := &supervisor{logs: dir, n: 2, windows: []window{{t0, t0.Add(time.Second)}}}
	s := &soaker{sup: sup, rep: newReport()}
	in, out := t0.Add(500*time.Millisecond), t0.Add(5*time.Second)
	s.rep.failed(failure{id: "soak-1", start: in, end: in, err: "connection refused"})  // down, never answered: expected
	s.rep.failed(failure{id: "soak-2", start: in, end: in, err: "connection reset"})    // the server answered it: lost
	s.rep.failed(failure{id: "soak-3", start: out, end: out, err: "connection closed"}) // outside any restart: lost
	s.rep.answered("k", 200, "1")
	s.rep.nonOK = append(s.rep.nonOK, answer{"k", 503, in}, answer{"k", 503, out}, answer{"k", 500, out})
	if err := s.settle(sup); err != nil {
		t.Fatal(err)
	}
	r := s.rep
	if r.NoAnswerRestart != 1 || r.Lost != 2 || r.RefusedRestart != 1 || r.RefusedLoad != 1 || r.Servers != 2 || r.Sent != 4 {
		t.Errorf("no answer in restarts %d, lost %d, refused in restarts %d, refused for load %d, servers %d, sent %d; want 1, 2, 1, 1, 2, 4",
			r.NoAnswerRestart, r.Lost, r.RefusedRestart, r.RefusedLoad, r.Servers, r.Sent)
	}
	all := strings.Join(r.Unexpected, "\n")
	for _, want := range []string{"soak-2 (", "soak-3 (", "answer 500", "batch run panicked"} {
		if !strings.Contains(all, want) {
			t.Errorf("unexpected events do not mention %q:\n%s", want, all)
		}
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "2 calls lost") {
		t.Errorf("Err() = %v, want the lost calls named", err)
	}
	if !errors.Is(newReport().Err(), nil) {
		t.Error("an empty report is not a failure")
	}
}
