package drift

import (
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	s := DefaultSpec() // psi warn 0.1 drifting 0.25; ks warn 0.1 drifting 0.2; min_rows 500
	tests := []struct {
		name       string
		ms         []measurement
		rows       int64
		features   []level
		version    level
		collecting bool
	}{
		{"all quiet", []measurement{{psi: 0.01, ks: 0.02}, {psi: 0.05}}, 1000, []level{levelOK, levelOK}, levelOK, false},
		{"psi warns", []measurement{{psi: 0.12, ks: 0.02}, {psi: 0.05}}, 1000, []level{levelWarn, levelOK}, levelWarn, false},
		{"ks warns", []measurement{{psi: 0.01, ks: 0.15}}, 1000, []level{levelWarn}, levelWarn, false},
		{"at the threshold is not above it", []measurement{{psi: 0.25, ks: 0.2}}, 1000, []level{levelWarn}, levelWarn, false},
		{"one drifting feature drifts the version", []measurement{{psi: 0.3}, {psi: 0.12}, {ks: 0.01}}, 1000, []level{levelDrifting, levelWarn, levelOK}, levelDrifting, false},
		{"ks drifts", []measurement{{psi: 0.01, ks: 0.21}}, 1000, []level{levelDrifting}, levelDrifting, false},
		{"a class output's ks is not judged", []measurement{{psi: 0.01, ks: 0.9, class: true}}, 1000, []level{levelOK}, levelOK, false},
		{"a class output's psi is", []measurement{{psi: 0.4, ks: 0.9, class: true}}, 1000, []level{levelDrifting}, levelDrifting, false},
		{"below min_rows it collects", []measurement{{psi: 2, ks: 0.9}}, 499, []level{levelOK}, levelOK, true},
		{"at min_rows it judges", []measurement{{psi: 2, ks: 0.9}}, 500, []level{levelDrifting}, levelDrifting, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			features, version, collecting := judgeAll(tt.ms, tt.rows, s)
			if version != tt.version || collecting != tt.collecting || len(features) != len(tt.features) {
				t.Fatalf("judged %v %v (collecting %v), want %v %v (%v)", features, version, collecting, tt.features, tt.version, tt.collecting)
			}
			for i := range features {
				if features[i] != tt.features[i] {
					t.Errorf("feature %d: %v, want %v", i, features[i], tt.features[i])
				}
			}
		})
	}
}

func TestReasonsNameTheDriftingSignals(t *testing.T) {
	got := reasons([]measurement{{name: "sem1_grade", psi: 0.41, ks: 0.27}, {name: "sem2_grade", psi: 0.2, ks: 0.24}, {name: "label", psi: 0.1, ks: 0.5, class: true}}, DefaultSpec())
	if want := "sem1_grade PSI 0.41 > 0.25, sem1_grade KS 0.27 > 0.2, sem2_grade KS 0.24 > 0.2"; got != want {
		t.Errorf("reasons: %q, want %q", got, want)
	}
}

// TestTracker follows one version through its states: an episode begins
// when it drifts, is due once it has drifted drifting_for, fires once, and
// ends when the version stops drifting; a failed trigger waits for retryAt.
func TestTracker(t *testing.T) {
	const for3 = 3 * time.Second
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var tr tracker
	steps := []struct {
		name  string
		state level
		at    int // the window's end, seconds after t0; also now
		fire  bool
		fail  bool // the trigger failed: retry after 2s
		due   bool
		since int
		drift int // -1: outside an episode
	}{
		{"starts ok", levelOK, 0, false, false, false, 0, -1},
		{"warns", levelWarn, 1, false, false, false, 1, -1},
		{"drifts: an episode begins", levelDrifting, 2, false, false, false, 2, 2},
		{"not yet for 3s", levelDrifting, 4, false, false, false, 2, 2},
		{"due after 3s", levelDrifting, 5, true, false, true, 2, 2},
		{"fired: not due again", levelDrifting, 6, false, false, false, 2, 2},
		{"back to warn ends the episode", levelWarn, 7, false, false, false, 7, -1},
		{"drifts again: a new episode", levelDrifting, 8, false, false, false, 8, 8},
		{"due, and its trigger fails", levelDrifting, 11, true, true, true, 8, 8},
		{"waits for retryAt", levelDrifting, 12, false, false, false, 8, 8},
		{"due again at retryAt", levelDrifting, 13, false, false, true, 8, 8},
	}
	for _, s := range steps {
		tr.observe(s.state, at(s.at))
		if got := tr.due(at(s.at), for3); got != s.due {
			t.Fatalf("%s: due %v, want %v (%+v)", s.name, got, s.due, tr)
		}
		if !tr.since.Equal(at(s.since)) || (s.drift < 0) != tr.driftingSince.IsZero() || (s.drift >= 0 && !tr.driftingSince.Equal(at(s.drift))) {
			t.Fatalf("%s: since %v, drifting since %v; want %d and %d", s.name, tr.since, tr.driftingSince, s.since, s.drift)
		}
		if s.fire {
			tr.fired = true
		}
		if s.fail {
			tr.fired, tr.retryAt = false, at(s.at).Add(2*time.Second)
		}
	}
	if id := episodeID("student-success", 3, at(8)); !strings.HasPrefix(id, "student-success-3-") || id != episodeID("student-success", 3, at(8)) {
		t.Errorf("episode id %q", id)
	}
}
