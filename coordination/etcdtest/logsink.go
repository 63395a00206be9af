package etcdtest

import (
	"bytes"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logTailBytes bounds the etcd log kept per cluster: a stopped member makes
// its peers warn on every probe, and a long test must not grow without end.
const logTailBytes = 256 << 10

// logSink keeps the tail of what a cluster's members and clients log, so a
// failing test can show it and a passing one prints nothing. It is written
// by etcd's goroutines, possibly after the test ended (a member being
// abandoned after a timeout), which is why it is not a zaptest logger: that
// one panics when written after its test completes.
type logSink struct {
	mu      sync.Mutex // guards buf and dropped
	buf     []byte
	dropped int
}

// Write appends p, dropping the oldest bytes once the tail is twice its
// bound, so trimming costs amortised constant time per byte.
func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	if len(s.buf) > 2*logTailBytes {
		over := len(s.buf) - logTailBytes
		s.dropped += over
		s.buf = append(s.buf[:0], s.buf[over:]...)
	}
	return len(p), nil
}

// Sync is a no-op: the bytes are already in memory.
func (s *logSink) Sync() error { return nil }

// logger returns a zap logger at warn level writing to s; info is left out
// because a healthy three-member start alone logs hundreds of lines.
func (s *logSink) logger() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(s), zapcore.WarnLevel))
}

// dumpIfFailed shows the kept logs through tb when the test has failed.
func (s *logSink) dumpIfFailed(tb testing.TB) {
	if !tb.Failed() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tb.Logf("etcdtest: etcd logs (warn and above, %d earlier bytes dropped):\n%s", s.dropped, s.buf)
}

// contains reports whether the kept logs hold s; tests use it to wait for
// an event that has no other signal.
func (s *logSink) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.buf, []byte(sub))
}
