package drift

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exports the latest evaluation, read at scrape time, so a version
// no longer served leaves no stale series; triggers are counted as they
// happen.
type metrics struct {
	m                             *Monitor
	psi, ks, state, rows, sampled *prometheus.Desc
	triggers                      *prometheus.CounterVec
}

func newMetrics(m *Monitor, reg prometheus.Registerer) (*metrics, error) {
	vf := []string{"model", "version", "feature"}
	v := []string{"model", "version"}
	mt := &metrics{m: m,
		psi:     prometheus.NewDesc("sluice_drift_psi", "Population stability index of a feature's live window against training (outputs as feature \"output:<name>\").", vf, nil),
		ks:      prometheus.NewDesc("sluice_drift_ks", "Kolmogorov-Smirnov distance of a feature's live window against training, over the profile's bins.", vf, nil),
		state:   prometheus.NewDesc("sluice_drift_state", "1 for the version's current drift state (ok, warn, drifting).", []string{"model", "version", "state"}, nil),
		rows:    prometheus.NewDesc("sluice_drift_window_rows", "Sampled rows in the version's window (the fleet's, with coordination).", v, nil),
		sampled: prometheus.NewDesc("sluice_drift_sampled_rows_total", "Rows this replica sampled from the version's calls.", v, nil),
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_drift_triggers_total",
			Help: "Retraining triggers by outcome: sent, logged (no webhook), coalesced (inside the cooldown), failed."},
			[]string{"model", "reason", "outcome"}),
	}
	if reg == nil {
		return mt, nil
	}
	if err := reg.Register(mt); err != nil {
		return nil, err
	}
	if err := reg.Register(mt.triggers); err != nil {
		return nil, err
	}
	return mt, nil
}

func (mt *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mt.psi, mt.ks, mt.state, mt.rows, mt.sampled} {
		ch <- d
	}
}

func (mt *metrics) Collect(ch chan<- prometheus.Metric) {
	s := mt.m.snap.Load()
	if s == nil {
		return
	}
	for _, mv := range s.models {
		for _, v := range mv.Versions {
			if !v.Monitored {
				continue
			}
			num := strconv.FormatInt(v.Version, 10)
			for _, f := range v.Features {
				mt.signals(ch, mv.Model, num, f.Name, f)
			}
			for _, f := range v.Outputs {
				mt.signals(ch, mv.Model, num, "output:"+f.Name, f)
			}
			for _, st := range []string{StateOK, StateWarn, StateDrifting} {
				x := 0.0
				if st == v.State {
					x = 1
				}
				ch <- prometheus.MustNewConstMetric(mt.state, prometheus.GaugeValue, x, mv.Model, num, st)
			}
			ch <- prometheus.MustNewConstMetric(mt.rows, prometheus.GaugeValue, float64(v.Window.Rows), mv.Model, num)
			ch <- prometheus.MustNewConstMetric(mt.sampled, prometheus.CounterValue, float64(s.sampled[key(mv.Model, v.Version)]), mv.Model, num)
		}
	}
}

func (mt *metrics) signals(ch chan<- prometheus.Metric, model, version, feature string, f FeatureView) {
	ch <- prometheus.MustNewConstMetric(mt.psi, prometheus.GaugeValue, f.PSI, model, version, feature)
	ch <- prometheus.MustNewConstMetric(mt.ks, prometheus.GaugeValue, f.KS, model, version, feature)
}
