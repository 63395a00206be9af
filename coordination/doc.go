// Package coordination makes many Sluice replicas one fleet for rollouts,
// over etcd (the store behind Kubernetes): each model's traffic policy and
// rollout state live in etcd and every replica watches and applies them;
// replicas register under a lease with the versions they serve; one
// replica, elected through etcd, runs the rollout analyses over every
// replica's measurements (HDR histograms merge exactly); any replica's
// admin command or breaker trip takes effect fleet-wide.
//
// Keys, under the configured prefix:
//
//	models/{model}             the state of record: traffic and rollout (rollout.Saved, JSON)
//	members/{replica}          a replica's view: versions ready, traffic, rollouts (leased)
//	windows/{model}/{replica}  a replica's measurements of a live rollout (leased)
//	election/                  the leader election (etcd's concurrency.Election)
//
// Without etcd a replica keeps serving with the last policy it applied,
// rollouts pause (no write can land), sluice_coordination_connected is 0
// and readiness stays true; when etcd returns the replica reads the state
// again and goes on.
package coordination
