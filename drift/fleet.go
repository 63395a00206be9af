package drift

import (
	"context"
	"time"
)

// Fleet is what a monitor needs from fleet coordination (etcd): whether
// this replica leads, the other replicas' windows, and the record of the
// last trigger, which every replica shares so that a new leader keeps the
// cooldown and does not send an episode's event again. Coordination
// implements it; nil means a replica alone.
type Fleet interface {
	// Leading reports whether this replica may send triggers.
	Leading() bool
	// DriftWindows are the other live replicas' latest windows for key
	// ("model/version"), as they published them.
	DriftWindows(key string) []WindowSet
	// LastTrigger is the fleet's record of model's last trigger and the
	// revision it was read at (0 and false: there is none).
	LastTrigger(model string) (t Trigger, rev int64, ok bool)
	// WriteTrigger records t as model's last trigger if the record is
	// still at revision rev, the one the decision to write was made on
	// (0: no record); it answers the record's new revision, which the
	// next write of the same delivery compares with. An error means the
	// record was not written: a claim that fails must not be sent.
	WriteTrigger(ctx context.Context, model string, t Trigger, rev int64) (int64, error)
}

// WindowSet is one replica's live counts for one served version over its
// sliding window, as published to the fleet. Replicas merge the sets that
// were binned by the same training profile and end at the same slot.
type WindowSet struct {
	// Profile identifies the training profile the counts are binned by (a
	// hash of it): sets binned differently cannot be added.
	Profile string `json:"profile"`
	// Slot is the end of the window's newest closed slot, Unix seconds;
	// slots are aligned to the clock, so replicas' windows line up.
	Slot int64 `json:"slot"`
	// Rows is how many sampled rows the window holds.
	Rows int64 `json:"rows"`
	// Counts are the bins of every feature and then every output, each
	// feature's bins followed by its missing count, in profile order.
	Counts []int64 `json:"counts"`
	// Sums are each feature's and output's sum of values, for the mean.
	Sums []float64 `json:"sums"`
}

// Trigger is the record of one retraining trigger.
type Trigger struct {
	// ID is the CloudEvent's id: model, version and the start of the
	// drifting episode, so a retry or a new leader sends the same id.
	ID      string    `json:"id"`
	Model   string    `json:"model"`
	Version int64     `json:"version"`
	Reason  string    `json:"reason"`
	Outcome string    `json:"outcome"` // sending, sent, logged (no webhook), coalesced or failed
	Time    time.Time `json:"time"`
}
