package autoscale

import "github.com/prometheus/client_golang/prometheus"

// metrics exports the recommender's latest signals and decisions, read at
// scrape time.
type metrics struct {
	r                                      *Recommender
	desired, panic, sat, util, rate, concD *prometheus.Desc
}

// Register exports r's signals and decisions on reg.
func Register(reg prometheus.Registerer, r *Recommender) error {
	l := []string{"model"}
	return reg.Register(&metrics{r: r,
		desired: prometheus.NewDesc("sluice_autoscale_desired_replicas", "Replicas the recommender wants for the model.", l, nil),
		panic:   prometheus.NewDesc("sluice_autoscale_panic", "1 while the model's recommendation is in panic mode.", l, nil),
		sat:     prometheus.NewDesc("sluice_saturation", "Arrival rate over the capacity measured from recent batches (1 = full).", l, nil),
		util:    prometheus.NewDesc("sluice_instance_utilization", "Share of time the model's instances were running batches, stable window.", l, nil),
		rate:    prometheus.NewDesc("sluice_arrival_rate", "Calls per second arriving for the model, stable window.", l, nil),
		concD:   prometheus.NewDesc("sluice_concurrency", "Calls in flight and queued for the model, stable-window mean.", l, nil),
	})
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.desired, m.panic, m.sat, m.util, m.rate, m.concD} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, s := range m.r.Snapshot() {
		p := 0.0
		if s.Decision.Panic {
			p = 1
		}
		for _, v := range []struct {
			d *prometheus.Desc
			x float64
		}{{m.desired, float64(s.Decision.Desired)}, {m.panic, p}, {m.sat, s.Saturation}, {m.util, s.Utilization}, {m.rate, s.ArrivalRate}, {m.concD, s.Concurrency}} {
			ch <- prometheus.MustNewConstMetric(v.d, prometheus.GaugeValue, v.x, s.Model)
		}
	}
}
