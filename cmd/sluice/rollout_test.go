package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRolloutCLI runs `sluice rollout` against a served student-success:
// start version 2 as a canary, watch the status, abort.
func TestRolloutCLI(t *testing.T) {
	addr := startServe(t, studentRepo(t), "-repository.rollout_interval", "20ms")
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	os.WriteFile(spec, []byte("steps: [50, 100]\nmin_step_calls: 1000000\n"), 0o644)
	url := "-url=http://" + addr
	rollout := func(args ...string) string {
		var out, errOut bytes.Buffer
		if err := run(append([]string{"rollout"}, args...), nil, &out, &errOut); err != nil {
			t.Fatalf("sluice rollout %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	out := rollout("start", url, "-canary", "2", "-spec", spec, "student-success")
	if !strings.Contains(out, "rollout of version 2 over stable 1: PROGRESSING") || !strings.Contains(out, "canary weight 50%") {
		t.Errorf("start printed:\n%s", out)
	}
	body := `{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,1,1,1,1,1,0,0]}]}`
	for range 40 {
		resp, err := http.Post("http://"+addr+"/v2/models/student-success/infer", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The controller analyses every 20ms: poll the status until it shows
	// the checks of an analysis.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out = rollout("status", url, "student-success")
		if strings.Contains(out, "CHECK") || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{"step 1 of 2", "CHECK", "canary error rate", "THRESHOLD", "traffic: version 1 (50%), version 2 (50%)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	t.Logf("sluice rollout status:\n%s", out)
	out = rollout("abort", url, "student-success")
	if !strings.Contains(out, "ABORTED") || !strings.Contains(out, "aborted by hand") {
		t.Errorf("abort printed:\n%s", out)
	}
	if err := run([]string{"rollout", "promote", url, "student-success"}, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no rollout in progress") {
		t.Errorf("promote with no rollout: %v", err)
	}
}
