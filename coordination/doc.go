// Package coordination makes many Sluice replicas one fleet for rollouts
// and drift monitoring, over etcd (the store behind Kubernetes): each model's traffic policy and
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
//	drift/{model}/{version}/{replica}
//	                           a replica's drift window set of a served version (drift.WindowSet, leased)
//	drift-triggers/{model}     the record of the model's last retraining trigger (drift.Trigger, kept)
//	election/                  the leader election (etcd's concurrency.Election)
//
// A replica publishes a drift window set only when it changed, and deletes
// the key of a version it no longer measures; every replica merges the
// others' sets itself. The trigger record is written with a
// compare-and-swap on its revision and outlives any lease, so across
// leader changes one trigger per drifting episode is recorded and sent.
//
// Without etcd a replica keeps serving with the last policy it applied,
// rollouts pause (no write can land), sluice_coordination_connected is 0
// and readiness stays true; when etcd returns the replica reads the state
// again and goes on.
package coordination
