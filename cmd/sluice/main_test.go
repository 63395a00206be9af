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

// TestServeEndToEnd runs `sluice serve` as the binary would, over the
// repository's own student-success model, and infers once.
func TestServeEndToEnd(t *testing.T) {
	ortest.Init(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	repo := t.TempDir()
	src := ortest.Path(t, "models/student-success")
	if err := os.CopyFS(filepath.Join(repo, "student-success"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"-server.addr", addr, "-repository.path", repo, "-log.level", "warn"}, os.Environ(), io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}()
	body := `{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,1,1,1,1,1,0,0]}]}`
	var resp *http.Response
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Post("http://"+addr+"/v2/models/student-success/infer", "application/json", strings.NewReader(body)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("server never answered: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"model_version":"1"`) || !strings.Contains(string(b), `"name":"label","datatype":"INT64","shape":[1,1],"data":[1]`) {
		t.Errorf("infer: %d %s", resp.StatusCode, b)
	}
	http.DefaultClient.CloseIdleConnections()
}
