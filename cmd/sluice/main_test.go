package main

import (
	"bytes"
	"context"
	"io"
	"net"
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

// startServe runs `sluice serve` in-process over repo on a free loopback
// port until the test ends, and returns the address once it is ready.
func startServe(t *testing.T, repo string, args ...string) string {
	t.Helper()
	ortest.Init(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args = append([]string{"-server.addr", addr, "-repository.path", repo, "-log.level", "error"}, args...)
	go func() { done <- serve(ctx, args, os.Environ(), io.Discard) }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
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
