package batching

import (
	"errors"

	"github.com/sluice-serving/sluice/tensor"
)

// Outcome classes: what happened to a call, for callers to branch on.
var (
	// ErrRejected: the call was refused at admission and never queued.
	ErrRejected = tensor.Errorf(tensor.ResourceExhausted, "rejected")
	// ErrExpired: the call left the queue, or its running batch, unanswered.
	ErrExpired = tensor.Errorf(tensor.DeadlineExceeded, "expired")
	// ErrFailed: the call's batch broke in a way the run could not report
	// as an error of its own (an error the run returns keeps its kind).
	ErrFailed = tensor.Errorf(tensor.Internal, "failed")
)

// Causes, wrapped inside a class.
var (
	ErrQueueFull = errors.New("queue full")
	ErrDeadline  = errors.New("deadline passed")
	ErrCancelled = errors.New("caller gone")
	ErrClosed    = tensor.Errorf(tensor.Unavailable, "model version is shutting down")
	ErrPanic     = errors.New("run panicked")
)

// Outcome is a call's end, as a metric label.
type Outcome uint8

// Outcomes.
const (
	OutcomeSuccess Outcome = iota
	OutcomeFailed
	OutcomeRejected
	OutcomeExpired
)

func (o Outcome) String() string {
	return [...]string{"success", "failed", "rejected", "expired"}[o]
}

// classed is an error of an outcome class with a cause and a message.
type classed struct {
	class, cause error
	msg          string
}

func (e *classed) Error() string { return e.msg }

// Unwrap lets errors.Is find both the class and the cause, and KindOf find
// the class's kind.
func (e *classed) Unwrap() []error { return []error{e.class, e.cause} }
