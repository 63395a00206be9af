package rollout

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the per-model rollout and shadow metrics; a nil *metrics
// records nothing.
type metrics struct {
	weight     *prometheus.GaugeVec   // model, version
	state      *prometheus.GaugeVec   // model, state: 1 for the current state
	step       *prometheus.GaugeVec   // model
	transition *prometheus.CounterVec // model, to: started, advanced, paused, resumed, promoted, aborted
	rollbacks  *prometheus.CounterVec // model
	promotions *prometheus.CounterVec // model
	shadows    *prometheus.CounterVec // model, outcome
	shadowDiff *prometheus.GaugeVec   // model: max absolute difference in the current window
	agreement  *prometheus.GaugeVec   // model: agreement in the current window
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_traffic_weight_percent",
			Help: "Share of unversioned calls each version receives during a rollout, in percent."}, []string{"model", "version"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_rollout_state",
			Help: "1 for the model's current rollout state."}, []string{"model", "state"}),
		step: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_rollout_step",
			Help: "Index of the rollout's current step (0-based)."}, []string{"model"}),
		transition: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_rollout_transitions_total",
			Help: "Rollout transitions by the state or step entered."}, []string{"model", "to"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_rollout_rollbacks_total",
			Help: "Rollouts aborted, by hand or by their analysis or breaker."}, []string{"model"}),
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_rollout_promotions_total",
			Help: "Rollouts whose canary became stable."}, []string{"model"}),
		shadows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_shadow_requests_total",
			Help: "Shadow copies by outcome: agree, disagree, failed (the candidate's fault), skipped (drained or shed), dropped (not admitted), panicked."}, []string{"model", "outcome"}),
		shadowDiff: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_shadow_max_abs_diff",
			Help: "Largest absolute output difference between candidate and primary in the current analysis window."}, []string{"model"}),
		agreement: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_shadow_agreement_ratio",
			Help: "Share of shadow copies whose class agreed with the primary in the current analysis window."}, []string{"model"}),
	}
	for _, c := range []prometheus.Collector{m.weight, m.state, m.step, m.transition, m.rollbacks, m.promotions, m.shadows, m.shadowDiff, m.agreement} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) shadow(model, outcome string) {
	if m != nil {
		m.shadows.WithLabelValues(model, outcome).Inc()
	}
}

func (m *metrics) moved(model, to string) {
	if m == nil {
		return
	}
	m.transition.WithLabelValues(model, to).Inc()
	switch to {
	case Promoted:
		m.promotions.WithLabelValues(model).Inc()
	case Aborted:
		m.rollbacks.WithLabelValues(model).Inc()
	}
}

// publish sets the gauges from a status and the window's shadow tallies.
func (m *metrics) publish(st *Status, sh Shadows) {
	if m == nil {
		return
	}
	for _, s := range []string{Progressing, Paused, Promoted, Aborted} {
		v := 0.0
		if s == st.State {
			v = 1
		}
		m.state.WithLabelValues(st.Model, s).Set(v)
	}
	m.step.WithLabelValues(st.Model).Set(float64(st.Step))
	m.weight.WithLabelValues(st.Model, strconv.FormatInt(st.Stable, 10)).Set(100 - st.Weight)
	m.weight.WithLabelValues(st.Model, strconv.FormatInt(st.Canary, 10)).Set(st.Weight)
	if sh.Compared > 0 {
		m.agreement.WithLabelValues(st.Model).Set(float64(sh.Agreed) / float64(sh.Compared))
		m.shadowDiff.WithLabelValues(st.Model).Set(sh.MaxDiff)
	}
}
