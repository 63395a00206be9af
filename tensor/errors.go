package tensor

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it. The server
// maps kinds to HTTP statuses in one place; every other layer only picks one.
type Kind uint8

// Error kinds, after gRPC's canonical codes.
const (
	Internal Kind = iota
	InvalidArgument
	NotFound
	Unavailable
	ResourceExhausted
	DeadlineExceeded
	Unauthenticated
	PermissionDenied
	TooLarge
)

var kindNames = [...]string{
	Internal:          "internal",
	InvalidArgument:   "invalid argument",
	NotFound:          "not found",
	Unavailable:       "unavailable",
	ResourceExhausted: "resource exhausted",
	DeadlineExceeded:  "deadline exceeded",
	Unauthenticated:   "unauthenticated",
	PermissionDenied:  "permission denied",
	TooLarge:          "too large",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Error is an error with a Kind; its message is the cause's.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an error of kind k; %w in format wraps a cause as usual.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

// WithKind gives err the kind k, keeping its message and chain.
func WithKind(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, and
// Internal for an error that has none: an unclassified error is our fault.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
