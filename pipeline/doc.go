// Package pipeline is the student-success training pipeline and what
// drives it: the stages prep → train → export → evaluate → publish over a
// run folder, a Watcher that starts a run when new data lands or an event
// (the gateway's drift trigger) arrives, and Replay, which plays a data
// set against a gateway as inference calls.
//
// Invariants: a stage runs only when its parameters or the hashes of its
// inputs changed since the manifest recorded it, so equal inputs give
// equal files, the model card (with its training profile) included; a
// version folder appears in the repository whole, by rename; a Watcher
// runs one run at a time, at most one per cooldown, merging the triggers
// that wait, and keeps bounded memory of the event ids it has seen.
package pipeline
