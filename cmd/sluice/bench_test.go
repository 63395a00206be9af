package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/bench"
	"github.com/sluice-serving/sluice/runtime/ortest"
)

// TestBenchCLI sweeps two rates against a served student-success and
// writes every report.
func TestBenchCLI(t *testing.T) {
	addr := startServe(t, studentRepo(t))
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"-url", "http://" + addr, "-model", "student-success", "-sweep", "50,100", "-warmup", "100ms", "-window", "300ms", "-max-windows", "3",
		"-json", filepath.Join(dir, "r.json"), "-csv", filepath.Join(dir, "r.csv"), "-html", filepath.Join(dir, "r.html")}
	if err := benchCmd(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("sluice bench: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "rate 100/s") || !strings.Contains(errOut.String(), "ok/s") {
		t.Errorf("table:\n%s\nprogress:\n%s", out.String(), errOut.String())
	}
	for _, f := range []string{"r.json", "r.csv", "r.html"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) < 100 {
			t.Errorf("%s: %d bytes, %v", f, len(b), err)
		}
	}
	if err := benchCmd(context.Background(), []string{"-url", "http://" + addr}, &out, &errOut); err == nil {
		t.Error("bench without -model was accepted")
	}
}

// TestBenchCLIGRPC runs a short closed loop with -protocol grpc against a
// served student-success: every call is counted a 200, and the reports say
// gRPC.
func TestBenchCLIGRPC(t *testing.T) {
	_, grpcAddr := serveBothDoors(t, studentRepo(t))
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"-protocol", "grpc", "-grpc-addr", grpcAddr, "-model", "student-success", "-mode", "closed", "-concurrency", "4",
		"-warmup", "100ms", "-window", "300ms", "-max-windows", "3", "-quiet",
		"-json", filepath.Join(dir, "r.json"), "-csv", filepath.Join(dir, "r.csv")}
	if err := benchCmd(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("sluice bench -protocol grpc: %v\n%s", err, errOut.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results []bench.Result
	if err := json.Unmarshal(b, &results); err != nil || len(results) != 1 {
		t.Fatalf("r.json: %d results, %v:\n%s", len(results), err, b)
	}
	r := results[0]
	if r.Protocol != "grpc" || r.Calls == 0 || r.Status[200] != r.Calls || r.Failed != 0 {
		t.Errorf("protocol %q, %d calls, status %v, %d transport errors; want every call a gRPC 200", r.Protocol, r.Calls, r.Status, r.Failed)
	}
	if csv, err := os.ReadFile(filepath.Join(dir, "r.csv")); err != nil || !strings.Contains(string(csv), "run,closed,grpc,") {
		t.Errorf("r.csv (%v):\n%s", err, csv)
	}
	if !strings.Contains(out.String(), "grpc") {
		t.Errorf("table:\n%s", out.String())
	}
	for _, bad := range [][]string{{"-protocol", "quic"}, {"-protocol", "grpc", "-grpc-addr", "no-port"}} {
		err := benchCmd(context.Background(), append(bad, "-model", "student-success"), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), bad[len(bad)-2]) {
			t.Errorf("%v: %v, want an error naming %s", bad, err, bad[len(bad)-2])
		}
	}
}

// serveBothDoors serves repo on loopback ports the OS chose and returns
// both doors' addresses once the models are loaded, read from serve's log.
func serveBothDoors(t *testing.T, repo string) (httpAddr, grpcAddr string) {
	t.Helper()
	ortest.Init(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &doorsLog{ready: make(chan [2]string, 1)}
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, []string{"-server.addr", "127.0.0.1:0", "-server.grpc_addr", "127.0.0.1:0", "-log.level", "info", "-log.format", "json",
			"-repository.path", repo}, os.Environ(), logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	select {
	case addrs := <-logs.ready:
		return addrs[0], addrs[1]
	case err := <-served:
		served <- err
		t.Fatalf("serve returned before its models were loaded: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve never said its models were loaded")
	}
	return "", ""
}

// doorsLog reads serve's JSON log for both doors' addresses ("serving
// KServe v2") and passes them on once the models are loaded.
type doorsLog struct {
	mu    sync.Mutex // guards rest, addrs and sent
	rest  []byte
	addrs [2]string
	sent  bool
	ready chan [2]string // cap 1
}

func (l *doorsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rest = append(l.rest, p...)
	for !l.sent {
		line, rest, ok := bytes.Cut(l.rest, []byte("\n"))
		if !ok {
			break
		}
		l.rest = rest
		var rec struct {
			Msg      string
			Addr     string
			GRPCAddr string `json:"grpc_addr"`
		}
		switch json.Unmarshal(line, &rec); rec.Msg {
		case "serving KServe v2":
			l.addrs = [2]string{rec.Addr, rec.GRPCAddr}
		case "models loaded; ready":
			l.sent = true
			l.ready <- l.addrs
		}
	}
	if l.sent {
		l.rest = nil
	}
	return len(p), nil
}
