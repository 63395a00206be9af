// Package drift watches what served model versions see against what they
// were trained on, and asks for retraining when it drifts.
//
// A version is monitored when its model's config.yaml has a drift section
// (Spec) and its model card carries the training profile the pipeline
// wrote (package profile). The Monitor then attaches a Live to the
// version: a registry.Sampler that counts the sampled calls' inputs and
// outputs into the training profile's bins, over a sliding window of
// clock-aligned slots. On every tick the Monitor moves each window on,
// merges it with the other replicas' windows of the same profile and slot
// when it belongs to a fleet, computes PSI and KS per feature and output,
// and judges each version ok, warn or drifting. A version drifting for
// trigger.drifting_for fires one trigger per drifting episode: a CloudEvent
// POSTed to the spec's webhook (sluice pipeline watch, say), unless the
// model's last trigger of record is inside its cooldown, when it is
// coalesced. Only a fleet's leader triggers.
//
// Invariants: the request path only adds to atomic counters of the open
// slot, never locks, never allocates and never keeps a tensor; the window
// holds closed slots only, so replicas that share a clock agree on it; an
// episode's trigger has one id (model, version, the window end at which
// the episode began) on every replica and every attempt; a trigger is
// claimed in the record (sending) before its event is sent, so a new
// leader never sends an episode's event while it may be on its way, and a
// claim whose outcome was never recorded is sent again, same id, once its
// delivery must have ended; only a sent (or logged) trigger starts the
// cooldown; every delivery goroutine is the Monitor's and Close waits for it.
package drift
