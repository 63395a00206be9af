package coordination

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connected, leader, members prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_coordination_connected",
			Help: "1 while this replica reaches etcd (its last publish landed), 0 while it serves with the last state it applied."}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_coordination_leader",
			Help: "1 while this replica leads the fleet: it runs the rollout analyses."}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_coordination_members",
			Help: "Live replicas this replica sees in the fleet, itself included."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connected, m.leader, m.members} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
