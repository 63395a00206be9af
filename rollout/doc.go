// Package rollout moves a model's traffic from a stable version to a canary
// in safe steps: it analyses each step on the calls both versions served,
// trips a circuit breaker on a run of canary faults, copies a share of
// stable calls to the canary as shadows, and keeps its state across
// restarts. The traffic policy it steers is the registry's: rollout sets it
// through the registry's public API and watches calls through the
// registry's Observer and Shadower interfaces. Alone, a controller keeps
// its state in files and analyses its own calls; given a Fleet (package
// coordination, over etcd) every change goes through the fleet's store
// first, each replica applies what the store says, and only the elected
// leader analyses, over every replica's windows.
//
// Invariants: the analysis is a pure function of the time, the spec and
// the step's measurements; each verdict is drawn on measurements no earlier
// verdict saw (windows restart after every verdict, on every replica: a
// verdict starts a new epoch); a replica's rollout state changes only in
// apply, and with a fleet only after the store took the change; every control
// operation on one model's rollout runs under that model's lock and never
// under a lock shared with another model; the request path takes no
// controller lock, only the live rollout's measurement lock.
package rollout
