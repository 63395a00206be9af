// Package registry owns the models a server can run: it scans the model
// repository, reads each model's config.yaml, loads and warms every version,
// decides which version serves a call, and checks a call's inputs against that
// version's signature before anything runs, so one bad request never reaches
// ONNX Runtime.
//
// Invariants: a version is visible to callers only after all its sessions
// exist and a warm-up inference has run; a version that fails to load is
// recorded with its reason and never replaces one that works.
package registry
