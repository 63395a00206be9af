package main

import (
	"bytes"
	"encoding/json"
	"sync"
)

// addrLog is the log destination of a serve run in-process on port 0 (the
// bench suite's, the tests'): it passes on the address of the "serving
// KServe v2" line, once, and drops the rest, so the port the kernel chose
// is known without choosing it first and binding it again.
type addrLog struct {
	mu   sync.Mutex // guards rest and sent
	rest []byte     // the start of a line not yet ended
	sent bool
	addr chan string // cap 1
}

func (l *addrLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent {
		return len(p), nil
	}
	l.rest = append(l.rest, p...)
	for {
		line, rest, ok := bytes.Cut(l.rest, []byte("\n"))
		if !ok {
			return len(p), nil
		}
		l.rest = rest
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving KServe v2" && rec.Addr != "" {
			l.sent = true
			l.addr <- rec.Addr
			return len(p), nil
		}
	}
}
