// Package train fits the student-success classifier: logistic regression or
// a small ReLU network with a sigmoid output, by mini-batch Adam on binary
// cross-entropy, stopping early on validation loss.
//
// Invariants: training is a single, fixed sequence of float operations for
// a given Config and data, so equal seeds give bit-identical weights (no
// map iteration, no goroutines: batches and hidden widths are bounded so
// gonum's multiplies stay on the calling goroutine); the returned model has
// the best validation loss seen, not the last; normalisation is fitted on
// the training split only.
package train
