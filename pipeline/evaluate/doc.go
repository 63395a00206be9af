// Package evaluate measures a trained classifier, writes what was measured
// into a model card, and decides whether a candidate may replace the
// stable version.
//
// Invariants: Measure is a pure function of the model and data (no clock,
// no randomness), so a card built from equal inputs marshals to equal
// bytes; CheckGate refuses rather than guesses when the signature changed.
package evaluate
