package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
)

func TestCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"version"}, nil, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "sluice ") {
		t.Errorf("version: %v, %q", err, out.String())
	}
	if err := run([]string{"frobnicate"}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
	errOut.Reset()
	if err := run([]string{"serve", "-help"}, nil, &out, &errOut); err != nil {
		t.Errorf("serve -help: %v", err)
	}
	for _, key := range []string{"-server.addr", "-server.max_body_bytes", "-repository.path", "-runtime.library", "127.0.0.1:8000"} {
		if !strings.Contains(errOut.String(), key) {
			t.Errorf("serve -help does not list %s:\n%s", key, errOut.String())
		}
	}
	if err := run([]string{"serve", "-server.addr", "nowhere"}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "server.addr") {
		t.Errorf("bad addr: %v", err)
	}
}

// serveInBackground runs `sluice serve` in-process with args until the test
// ends and returns the address it serves on. It listens on 127.0.0.1:0 and
// reads the port the kernel chose from its "serving KServe v2" log line, so
// nothing else can take the port between choosing it and serving on it.
func serveInBackground(tb testing.TB, args ...string) string {
	tb.Helper()
	addr, _ := serveBothInBackground(tb, args...)
	return addr
}

// serveBothInBackground is serveInBackground returning the gRPC address as
// well.
func serveBothInBackground(tb testing.TB, args ...string) (httpAddr, grpcAddr string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &addrLog{addr: make(chan string, 1)}
	served := make(chan struct{})
	var serveErr error
	args = append([]string{"-server.addr", "127.0.0.1:0", "-server.grpc_addr", "127.0.0.1:0", "-log.level", "info", "-log.format", "json"}, args...)
	go func() {
		defer close(served)
		serveErr = serve(ctx, args, os.Environ(), logs)
	}()
	tb.Cleanup(func() {
		cancel()
		<-served
		if serveErr != nil {
			tb.Errorf("serve returned %v", serveErr)
		}
	})
	select {
	case addr := <-logs.addr:
		return addr, logs.grpcAddr()
	case <-served:
		tb.Fatal("serve returned before it was serving")
	case <-time.After(60 * time.Second):
		tb.Fatal("serve never said where it serves")
	}
	return "", ""
}

// startServe serves repo as serveInBackground does and returns the address
// once the server says it is ready.
func startServe(t *testing.T, repo string, args ...string) string {
	t.Helper()
	ortest.Init(t)
	addr := serveInBackground(t, append([]string{"-repository.path", repo}, args...)...)
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // runs before serve is cancelled
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v2/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server never became ready")
		}
	}
}

// studentRepo copies the repository's student-success into a fresh folder.
func studentRepo(t *testing.T) string {
	repo := t.TempDir()
	if err := os.CopyFS(filepath.Join(repo, "student-success"), os.DirFS(ortest.Path(t, "models/student-success"))); err != nil {
		t.Fatal(err)
	}
	return repo
}

// TestServeEndToEnd runs `sluice serve` as the binary would, over the
// repository's own student-success model, and infers once.
func TestServeEndToEnd(t *testing.T) {
	addr := startServe(t, studentRepo(t))
	body := `{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,1,1,1,1,1,0,0]}]}`
	resp, err := http.Post("http://"+addr+"/v2/models/student-success/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"model_version":"1"`) || !strings.Contains(string(b), `"name":"label","datatype":"INT64","shape":[1,1],"data":[1]`) {
		t.Errorf("infer: %d %s", resp.StatusCode, b)
	}
}

// The trimmer gives memory back once, in the first quiet interval after a
// burst, and not after a trickle or while calls keep coming.
func TestTrimmerTrimsOnceAfterABurst(t *testing.T) {
	var tr trimmer
	steps := []struct {
		arrivals int64
		trim     bool
	}{
		{10, false},                    // a trickle
		{10, false},                    // quiet after a trickle
		{10 + trimBurst, false},        // a burst
		{10 + 2*trimBurst, false},      // still busy
		{10 + 2*trimBurst + 7, false},  // the burst tails off
		{10 + 2*trimBurst + 7, true},   // the first quiet interval
		{10 + 2*trimBurst + 7, false},  // still quiet: trimmed already
		{10 + 2*trimBurst + 12, false}, // a trickle again
		{10 + 2*trimBurst + 12, false},
	}
	for i, s := range steps {
		if got := tr.tick(s.arrivals); got != s.trim {
			t.Errorf("tick %d (arrivals %d): trim %v, want %v", i, s.arrivals, got, s.trim)
		}
	}
}
