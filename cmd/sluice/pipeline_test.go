package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/pipeline"
	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/model"
	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// pipelineRun runs `sluice pipeline ARGS` and returns what it printed.
func pipelineRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(append([]string{"pipeline"}, args...), os.Environ(), &out, &errOut)
	return out.String() + errOut.String(), err
}

// records writes n synthetic student records and returns the file.
func records(t *testing.T, n int) string {
	t.Helper()
	csv := filepath.Join(t.TempDir(), "students.csv")
	if out, err := pipelineRun(t, "gen-data", "-out", csv, "-rows", "3000", "-seed", "7"); err != nil {
		t.Fatalf("gen-data: %v\n%s", err, out)
	}
	return csv
}

// The whole loop against a running gateway: the pipeline publishes version
// 3 of student-success, the gateway starts its canary rollout, the served
// answers equal the trainer's on the test split, the card is served, and
// a second run with unchanged inputs does no work.
func TestPipelinePublishesACanary(t *testing.T) {
	repo := studentRepo(t)
	base := "http://" + startServe(t, repo)
	csv := records(t, 3000)
	runDir := t.TempDir()
	args := []string{"run", "-run", runDir, "-data", csv, "-repository", repo, "-gateway", base, "-kind", "logreg", "-seed", "1"}
	out, err := pipelineRun(t, args...)
	if err != nil {
		t.Fatalf("pipeline run: %v\n%s", err, out)
	}
	t.Logf("first run:\n%s", out)
	c := client.New(base, 4)
	ctx := context.Background()
	var card struct {
		Version int64 `json:"version"`
		Parent  int64 `json:"parent"`
		Metrics struct {
			AUC float64 `json:"auc"`
		} `json:"metrics"`
		ExportMaxDiff float64 `json:"export_max_diff"`
	}
	if err := c.ModelCard(ctx, "student-success", "3", &card); err != nil || card.Version != 3 || card.Metrics.AUC < 0.7 {
		t.Fatalf("card of version 3: %+v, %v", card, err)
	}
	t.Logf("published version 3: test AUC %.4f, export max |diff| %.3g, parent %d", card.Metrics.AUC, card.ExportMaxDiff, card.Parent)
	status, err := statusOf(base)
	if err != nil || status.Canary != 3 || status.State != "progressing" {
		t.Fatalf("rollout after publish: %+v, %v", status, err)
	}
	servedEqualsTrained(t, c, runDir)
	out, err = pipelineRun(t, args...)
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second run with unchanged inputs: %v\n%s", err, out)
	}
}

// statusOf reads the model's rollout from the admin API (open on loopback).
func statusOf(base string) (rolloutView, error) {
	var v rolloutView
	resp, err := http.Get(base + "/v2/admin/models/student-success/rollout")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// servedEqualsTrained sends the test split to version 3 and compares every
// probability with the trained model's.
func servedEqualsTrained(t *testing.T, c *client.Client, runDir string) {
	t.Helper()
	test, err := data.ReadDataset(filepath.Join(runDir, "prep", "test.csv"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(runDir, "train", "model.json"))
	var m model.Model
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, x := range test.X {
		feats := make([]byte, 4*len(x))
		for i, v := range x {
			bits := math.Float32bits(float32(v))
			feats[4*i], feats[4*i+1], feats[4*i+2], feats[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
		}
		in := tensor.Tensor{Name: "features", DataType: tensor.FP32, Shape: []int64{1, int64(len(x))}, Data: feats}
		resp, err := c.Infer(context.Background(), "student-success", "3", []tensor.Tensor{in}, client.Options{Binary: true})
		if err != nil {
			t.Fatal(err)
		}
		got := float64(math.Float32frombits(uint32(resp.Outputs[0].Data[0]) | uint32(resp.Outputs[0].Data[1])<<8 | uint32(resp.Outputs[0].Data[2])<<16 | uint32(resp.Outputs[0].Data[3])<<24))
		worst = max(worst, math.Abs(got-m.Probability(x)))
	}
	if worst > 1e-5 {
		t.Errorf("served probabilities differ from the trained model's by up to %.3g on the test split, want ≤ 1e-5", worst)
	}
	t.Logf("%d test rows: served and trained probabilities differ by at most %.3g", len(test.X), worst)
}

// The gate refuses a candidate below the floor, and one whose signature is
// not the stable version's; nothing is published either time.
func TestPipelineGateRefuses(t *testing.T) {
	ortest.Init(t)
	csv := records(t, 3000)
	repo := studentRepo(t)
	out, err := pipelineRun(t, "run", "-run", t.TempDir(), "-data", csv, "-repository", repo, "-min-auc", "0.999")
	if err == nil || !strings.Contains(err.Error(), "gate refuses") {
		t.Fatalf("a floor of 0.999: %v\n%s", err, out)
	}
	other := t.TempDir() // its stable version takes 16 features
	if err := os.CopyFS(filepath.Join(other, "student-success", "1"), os.DirFS(filepath.Dir(ortest.Fixture(t, "mlp")))); err != nil {
		t.Fatal(err)
	}
	out, err = pipelineRun(t, "run", "-run", t.TempDir(), "-data", csv, "-repository", other)
	if err == nil || !strings.Contains(err.Error(), "gate refuses") {
		t.Fatalf("a stable version with another signature: %v\n%s", err, out)
	}
	for _, r := range []string{repo, other} {
		if _, err := os.Stat(filepath.Join(r, "student-success", "3")); !os.IsNotExist(err) {
			t.Errorf("%s: a refused candidate was published (%v)", r, err)
		}
	}
	if _, err := os.Stat(filepath.Join(other, "student-success", "2")); !os.IsNotExist(err) {
		t.Errorf("a candidate with another signature was published (%v)", err)
	}
}

// The same data and seed give the same ONNX file and the same model card,
// byte for byte, and the card carries the training profile.
func TestPipelineIsDeterministic(t *testing.T) {
	ortest.Init(t)
	csv := records(t, 3000)
	var files, cards [2][]byte
	for i := range files {
		dir := t.TempDir()
		if out, err := pipelineRun(t, "run", "-run", dir, "-data", csv, "-repository", t.TempDir(), "-kind", "mlp", "-seed", "3"); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		var err error
		if files[i], err = os.ReadFile(filepath.Join(dir, "export", "model.onnx")); err != nil {
			t.Fatal(err)
		}
		if cards[i], err = os.ReadFile(filepath.Join(dir, "evaluate", "card.json")); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two runs with the same data and seed exported different ONNX files")
	}
	if !bytes.Equal(cards[0], cards[1]) {
		t.Error("two runs with the same data and seed wrote different model cards")
	}
	p, err := profile.FromCard(cards[0])
	if err != nil || p == nil {
		t.Fatalf("the card's profile: %v, %v", p, err)
	}
	if p.Input != "features" || len(p.Features) != len(data.Features) || len(p.Outputs) != 2 || p.Outputs[0].Name != "probability" || p.Outputs[1].Name != "label" {
		t.Errorf("profile of input %q with %d features and outputs %+v; want features, %d features, probability and label", p.Input, len(p.Features), p.Outputs, len(data.Features))
	}
}

// `sluice pipeline replay` sends a gen-data file to the gateway, one call a
// record, and Replay stops at the first failed call or when its context
// ends.
func TestPipelineReplay(t *testing.T) {
	repo := studentRepo(t)
	base := "http://" + startServe(t, repo)
	csv := filepath.Join(t.TempDir(), "students.csv")
	if out, err := pipelineRun(t, "gen-data", "-out", csv, "-rows", "50", "-seed", "4", "-ability-shift", "-1", "-pass-shift", "-1.5"); err != nil {
		t.Fatalf("gen-data: %v\n%s", err, out)
	}
	out, err := pipelineRun(t, "replay", "-data", csv, "-gateway", base, "-calls", "120", "-workers", "3")
	if err != nil || !strings.Contains(out, "replayed 120 calls of 50 records") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	c := client.New(base, 2)
	ctx := context.Background()
	if got := successfulInferences(t, c); got != 120 {
		t.Errorf("the gateway counted %d inferences, want 120", got)
	}
	rows := [][]float64{{1, 1, 1, 1, 1, 1, 0, 0}}
	if err := pipeline.Replay(ctx, c, "no-such-model", rows, 10, 2); err == nil || !strings.Contains(err.Error(), `"no-such-model"`) || !strings.Contains(err.Error(), "404") {
		t.Errorf("replay to a missing model: %v, want a 404 naming it", err)
	}
	if err := pipeline.Replay(ctx, c, "student-success", [][]float64{{1, 2}}, 10, 2); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("replay of rows of the wrong width: %v, want the gateway's 400", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := pipeline.Replay(cancelled, c, "student-success", rows, 1000, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("replay with an ended context: %v, want context.Canceled", err)
	}
	if got := successfulInferences(t, c); got != 120 {
		t.Errorf("after replays that failed or were cancelled the gateway counted %d inferences, want 120 still", got)
	}
	for _, bad := range []struct {
		rows           [][]float64
		calls, workers int
		names          string
	}{{nil, 1, 1, "no rows"}, {rows, -1, 1, "-1 calls"}, {rows, 1, 0, "0 workers"}, {[][]float64{{1}, {1, 2}}, 1, 1, "row 2 has 2 values"}} {
		if err := pipeline.Replay(ctx, c, "student-success", bad.rows, bad.calls, bad.workers); err == nil || !strings.Contains(err.Error(), bad.names) {
			t.Errorf("Replay(%v, %d calls, %d workers) = %v, want an error naming %q", bad.rows, bad.calls, bad.workers, err, bad.names)
		}
	}
}

// successfulInferences is the gateway's count of successful student-success
// inferences, every version.
func successfulInferences(t *testing.T, c *client.Client) int64 {
	t.Helper()
	stats, err := c.Stats(context.Background(), "student-success")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range stats {
		n += s.InferenceStats.Success.Count
	}
	return n
}
