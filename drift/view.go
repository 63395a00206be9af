package drift

import (
	"maps"
	"time"
)

// Scopes of a view: this replica's calls alone, or the fleet's merged.
const (
	ScopeReplica = "replica"
	ScopeFleet   = "fleet"
)

// ModelView is what GET /v2/admin/models/{m}/drift answers: each served
// version's drift as of the monitor's latest evaluation.
type ModelView struct {
	Model string `json:"model"`
	Scope string `json:"scope"`
	// Replicas is how many replicas' windows the versions' windows merge
	// (the most over the versions), 1 for a replica alone.
	Replicas    int           `json:"replicas"`
	Versions    []VersionView `json:"versions"`
	LastTrigger *Trigger      `json:"last_trigger,omitempty"`
}

// VersionView is one served version's drift.
type VersionView struct {
	Version   int64 `json:"version"`
	Monitored bool  `json:"monitored"`
	// Note says why a version is not monitored, or that its window is
	// still collecting rows (its state stays ok until min_rows).
	Note          string        `json:"note,omitempty"`
	State         string        `json:"state,omitempty"`
	Since         *time.Time    `json:"since,omitempty"`
	DriftingSince *time.Time    `json:"drifting_since,omitempty"`
	Window        *Window       `json:"window,omitempty"`
	Thresholds    *Thresholdset `json:"thresholds,omitempty"`
	Features      []FeatureView `json:"features,omitempty"`
	Outputs       []FeatureView `json:"outputs,omitempty"`
}

// Window is the span of live calls a version's signals are computed over.
type Window struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Rows       int64     `json:"rows"`
	SampleRate float64   `json:"sample_rate,omitempty"`
}

// Thresholdset are the spec's thresholds, shown with the signals.
type Thresholdset struct {
	PSI Thresholds `json:"psi"`
	KS  Thresholds `json:"ks"`
}

// FeatureView is one input feature's or output's signals against its
// training distribution. KS is not judged for a class output.
type FeatureView struct {
	Name              string  `json:"name"`
	PSI               float64 `json:"psi"`
	KS                float64 `json:"ks"`
	State             string  `json:"state"`
	Mean              float64 `json:"mean"`
	TrainMean         float64 `json:"train_mean"`
	MissingShare      float64 `json:"missing_share"`
	TrainMissingShare float64 `json:"train_missing_share"`
}

// versionView renders a monitored version's latest evaluation.
func versionView(num int64, l *Live, w WindowSet, ms []measurement, states []level, state level, collecting bool, tr *tracker, s Spec) VersionView {
	to := l.curStart.UTC()
	v := VersionView{Version: num, Monitored: true, State: state.String(),
		Window:     &Window{From: to.Add(-time.Duration(s.Window)), To: to, Rows: w.Rows, SampleRate: s.SampleRate},
		Thresholds: &Thresholdset{PSI: s.PSI, KS: s.KS}}
	since := tr.since.UTC()
	v.Since = &since
	if !tr.driftingSince.IsZero() {
		ds := tr.driftingSince.UTC()
		v.DriftingSince = &ds
	}
	if collecting {
		v.Note = "collecting: the window holds fewer rows than min_rows"
	}
	first := len(l.feats) - l.outputs
	for k, m := range ms {
		fv := FeatureView{Name: m.name, PSI: m.psi, KS: m.ks, State: states[k].String(), Mean: m.mean, TrainMean: m.trainMean,
			MissingShare: m.missing, TrainMissingShare: m.trainMiss}
		if k < first {
			v.Features = append(v.Features, fv)
		} else {
			v.Outputs = append(v.Outputs, fv)
		}
	}
	return v
}

// View is a model's drift as of the latest evaluation; NotFound for a
// model the registry does not know.
func (m *Monitor) View(model string) (ModelView, error) {
	if mv, ok := m.snap.Load().models[model]; ok {
		return mv, nil
	}
	vs, err := m.models.Versions(model)
	if err != nil {
		return ModelView{}, err
	}
	note := "not monitored: the model's config.yaml has no drift section"
	if raw, _ := m.models.DriftSpec(model); raw != nil {
		note = "not evaluated yet"
	}
	mv := ModelView{Model: model, Scope: m.snap.Load().scope, Replicas: 1, Versions: []VersionView{}}
	for _, v := range vs {
		mv.Versions = append(mv.Versions, VersionView{Version: v.Number(), Note: note})
	}
	return mv, nil
}

// DriftMeasurements are this replica's own windows of every monitored
// version, by "model/version", as of the latest evaluation, for fleet
// coordination to publish. The sets are shared: callers must not change
// them.
func (m *Monitor) DriftMeasurements() map[string]WindowSet {
	return maps.Clone(m.snap.Load().windows)
}
