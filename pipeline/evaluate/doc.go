// Package evaluate measures a trained classifier, writes what was measured
// and the training profile (the reference the gateway's drift monitor
// compares live calls with) into a model card, and decides whether a
// candidate may replace the stable version.
//
// Invariants: Measure and TrainingProfile are pure functions of the model
// and data (no clock, no randomness), so a card built from equal inputs
// marshals to equal bytes; the profile bins values as the served graph
// receives and answers them (FP32); CheckGate refuses rather than guesses
// when the signature changed.
package evaluate
