package main

import (
	"bytes"
	"encoding/json"
	"sync"
)

// addrLog is the log destination of a serve run in-process on port 0 (the
// bench suite's, the tests'): it passes on the addresses of the "serving
// KServe v2" line, once, and drops the rest, so the ports the kernel chose
// are known without choosing them first and binding them again.
type addrLog struct {
	mu   sync.Mutex // guards rest, sent and grpc
	rest []byte     // the start of a line not yet ended
	sent bool
	addr chan string // cap 1: the HTTP address
	grpc string      // the gRPC address, set before addr is sent
}

// grpcAddr is the gRPC address of the line addr came from; call it after
// receiving from addr.
func (l *addrLog) grpcAddr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grpc
}

func (l *addrLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent {
		return len(p), nil // found: the rest of the log is dropped
	}
	eachLine(&l.rest, p, func(line []byte) {
		var rec struct {
			Msg, Addr string
			GRPCAddr  string `json:"grpc_addr"`
		}
		if !l.sent && json.Unmarshal(line, &rec) == nil && rec.Msg == "serving KServe v2" && rec.Addr != "" {
			l.sent, l.grpc = true, rec.GRPCAddr
			l.addr <- rec.Addr
		}
	})
	if l.sent {
		l.rest = nil // nothing more to find
	}
	return len(p), nil
}

// eachLine appends p to *rest, a line begun in an earlier write, and calls
// fn with every line p completes, keeping the unfinished end in *rest.
func eachLine(rest *[]byte, p []byte, fn func(line []byte)) {
	*rest = append(*rest, p...)
	for {
		line, after, ok := bytes.Cut(*rest, []byte("\n"))
		if !ok {
			return
		}
		*rest = after
		fn(line)
	}
}
