package batching

import "log/slog"

// Option sets what a Batcher takes from its owner rather than from
// config.yaml. Options keep New's first arguments stable as they grow.
type Option func(*Batcher)

// WithLogger reports the panics of the run function, with their stacks, to
// l; the owner adds the model and version to it. Without it, or with nil,
// they go to slog.Default(), so a panic is never silent.
func WithLogger(l *slog.Logger) Option {
	return func(b *Batcher) {
		if l != nil {
			b.log = l
		}
	}
}
