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

// TestAutoscaleSignalsServed: a serving process samples its load and
// serves a recommendation per model as JSON and as metrics.
func TestAutoscaleSignalsServed(t *testing.T) {
	addr := startServe(t, studentRepo(t), "-autoscale.interval", "20ms")
	body := `{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,1,1,1,1,1,0,0]}]}`
	for range 50 {
		resp, err := http.Post("http://"+addr+"/v2/models/student-success/infer", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/admin/autoscale")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = string(b)
		if strings.Contains(got, `"arrival_rate"`) && !strings.Contains(got, `"arrival_rate":0,`) {
			break
		}
	}
	for _, want := range []string{`"model":"student-success"`, `"desired_replicas":1`, `"utilization"`, `"saturation"`} {
		if !strings.Contains(got, want) {
			t.Errorf("/v2/admin/autoscale lacks %s:\n%s", want, got)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`sluice_autoscale_desired_replicas{model="student-success"} 1`, `sluice_autoscale_panic{model="student-success"} 0`, `sluice_arrival_rate{model="student-success"}`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAutoscaleSimulateCLI(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "t.csv")
	os.WriteFile(trace, []byte("0,300\n60,900\n90,300\n"), 0o644)
	var out bytes.Buffer
	args := []string{"simulate", "-trace", trace, "-csv", filepath.Join(dir, "o.csv"), "-svg", filepath.Join(dir, "o.svg"), "-duration", "150s"}
	if err := autoscaleCmd(args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "panic true") {
		t.Errorf("the spike did not show panic:\n%s", out.String())
	}
	for _, f := range []string{"o.csv", "o.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() < 100 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
