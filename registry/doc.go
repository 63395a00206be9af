// Package registry owns the models a server can run: it scans the model
// repository, reads each model's config.yaml (or Triton's config.pbtxt,
// mapped onto the same settings, with the fields Sluice ignores named in
// one warning; a folder holding both is refused), loads and warms every version,
// keeps the version policy and the traffic policy, decides which version
// serves a call, and checks a call's inputs against that version's signature
// before anything runs, so one bad request never reaches ONNX Runtime, and
// describes each version as Triton's ModelConfig (Version.TritonConfig). It
// calls the Observer and Shadower a rollout attaches to a model and the
// Sampler drift monitoring attaches to a version, and knows nothing else of
// rollouts or drift (their config.yaml sections it keeps as JSON, checked
// by the checks they set).
//
// Invariants: a version is visible to callers only after all its sessions
// exist and a warm-up inference has run; a version that fails to load is
// recorded with its reason and never replaces one that works; control
// operations on one model (load, reload, unload, sync, a traffic change that
// pins new versions) run one at a time under that model's own lock, and no
// lock shared across models is held while a version loads, warms or drains;
// everything a call reads of a model it reads under one hold of the
// registry's lock.
package registry
