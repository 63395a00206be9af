package drift

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluice-serving/sluice/profile"
)

// States of a feature and of a version, from best to worst.
const (
	StateOK       = "ok"
	StateWarn     = "warn"
	StateDrifting = "drifting"
)

// level orders the states so that a version is its worst feature.
type level uint8

const (
	levelOK level = iota
	levelWarn
	levelDrifting
)

func (l level) String() string {
	return [...]string{StateOK, StateWarn, StateDrifting}[l]
}

// measurement is one feature's or output's live distribution against its
// training one over a window.
type measurement struct {
	name  string
	class bool // a class output: KS says nothing of unordered classes
	psi   float64
	ks    float64
	// Means and missing shares, live and in training, for the JSON view.
	mean, trainMean    float64
	missing, trainMiss float64
	rows               int64 // the feature's values in the window, missing ones included
}

// measure compares each of l's features and outputs in window w (laid out
// as l lays out its slots) with the training profile. The missing count
// is one more bin on both sides, so that a feature that goes missing
// drifts.
func measure(l *Live, w WindowSet) []measurement {
	out := make([]measurement, len(l.feats))
	for k := range l.feats {
		f := &l.feats[k]
		live := w.Counts[f.at : f.at+len(f.Edges)+2] // the bins, then the missing count
		missing := live[len(live)-1]
		var present int64
		for _, c := range live[:len(live)-1] {
			present += c
		}
		m := measurement{name: f.Name, class: f.Kind == profile.Class, psi: profile.PSI(f.ref, live), ks: profile.KS(f.ref, live),
			trainMean: f.Mean, rows: present + missing}
		if present > 0 {
			m.mean = w.Sums[k] / float64(present)
		}
		if m.rows > 0 {
			m.missing = float64(missing) / float64(m.rows)
		}
		if f.Rows > 0 {
			m.trainMiss = float64(f.Missing) / float64(f.Rows)
		}
		out[k] = m
	}
	outputNames(l, out)
	return out
}

// outputNames tells apart outputs profiled at more than one element of a
// row ("probs[2]"); an output profiled once keeps its name.
func outputNames(l *Live, ms []measurement) {
	first := len(l.feats) - l.outputs
	count := map[string]int{}
	for k := first; k < len(l.feats); k++ {
		count[l.feats[k].Name]++
	}
	for k := first; k < len(l.feats); k++ {
		if f := &l.feats[k]; count[f.Name] > 1 {
			ms[k].name = fmt.Sprintf("%s[%d]", f.Name, f.Index)
		}
	}
}

// judge is a feature's state: the worse of its PSI's and its KS's (KS
// only for ordered values).
func judge(m measurement, s Spec) level {
	lv := against(m.psi, s.PSI)
	if !m.class {
		lv = max(lv, against(m.ks, s.KS))
	}
	return lv
}

func against(v float64, t Thresholds) level {
	switch {
	case v > t.Drifting:
		return levelDrifting
	case v > t.Warn:
		return levelWarn
	}
	return levelOK
}

// judgeAll is each feature's state and the version's: its worst feature's,
// or ok (collecting) while the window holds fewer than min_rows rows,
// when every feature is ok too.
func judgeAll(ms []measurement, rows int64, s Spec) (features []level, version level, collecting bool) {
	features = make([]level, len(ms))
	if rows < s.MinRows {
		return features, levelOK, true
	}
	for k, m := range ms {
		features[k] = judge(m, s)
		version = max(version, features[k])
	}
	return features, version, false
}

// reasons says which features drive a drifting version, worst first as
// they come: "sem1_grade PSI 0.41 > 0.25, sem2_grade KS 0.24 > 0.2".
func reasons(ms []measurement, s Spec) string {
	var parts []string
	for _, m := range ms {
		if m.psi > s.PSI.Drifting {
			parts = append(parts, fmt.Sprintf("%s PSI %.3g > %g", m.name, m.psi, s.PSI.Drifting))
		}
		if !m.class && m.ks > s.KS.Drifting {
			parts = append(parts, fmt.Sprintf("%s KS %.3g > %g", m.name, m.ks, s.KS.Drifting))
		}
	}
	return strings.Join(parts, ", ")
}

// tracker follows one version's state over evaluations. An episode is one
// unbroken stretch of drifting; it triggers once.
type tracker struct {
	state level
	since time.Time // when state began
	// driftingSince is when the episode began; zero outside one.
	driftingSince time.Time
	// fired is true once the episode's trigger was decided (sent, logged
	// or coalesced); a failed send clears it to try again after retryAt.
	fired   bool
	retryAt time.Time
}

// observe takes the state judged of the window that ends at at: times are
// window ends, which every replica of a fleet shares, so replicas agree on
// when an episode began and so on its trigger's id.
func (t *tracker) observe(state level, at time.Time) {
	if t.since.IsZero() {
		t.since = at
	}
	if state == t.state {
		return
	}
	if state == levelDrifting {
		t.driftingSince, t.fired, t.retryAt = at, false, time.Time{}
	} else if t.state == levelDrifting {
		t.driftingSince, t.fired, t.retryAt = time.Time{}, false, time.Time{}
	}
	t.state, t.since = state, at
}

// due reports whether the episode has drifted long enough to trigger and
// has not triggered yet.
func (t *tracker) due(now time.Time, driftingFor time.Duration) bool {
	return t.state == levelDrifting && !t.fired && now.Sub(t.driftingSince) >= driftingFor && !now.Before(t.retryAt)
}
