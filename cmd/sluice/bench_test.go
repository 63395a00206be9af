package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
