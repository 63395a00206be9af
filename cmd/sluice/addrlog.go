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
		return len(p), nil
	}
	l.rest = append(l.rest, p...)
	for {
		line, rest, ok := bytes.Cut(l.rest, []byte("\n"))
		if !ok {
			return len(p), nil
		}
		l.rest = rest
		var rec struct {
			Msg, Addr string
			GRPCAddr  string `json:"grpc_addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving KServe v2" && rec.Addr != "" {
			l.sent, l.grpc = true, rec.GRPCAddr
			l.addr <- rec.Addr
			return len(p), nil
		}
	}
}
