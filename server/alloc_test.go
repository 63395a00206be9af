package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/profile"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// inferAllocs is the allocation budget of one binary infer call on the
// mlp fixture, from the handler through routing, checks, the batcher and
// ONNX Runtime and back to the encoded answer, as measured when the budget
// was set (see docs/benchmarks.md). A change that adds allocations to the
// request path fails here and must say why in the budget.
const inferAllocs = 12

func TestInferCallAllocationBudget(t *testing.T) {
	s, body, hl := mlpServer(t)
	checkInferAllocs(t, s, body, hl)
}

// TestInferCallAllocationBudgetWithDrift: sampling every call into a
// drift monitor's live profile adds no allocation to the request path.
func TestInferCallAllocationBudgetWithDrift(t *testing.T) {
	s, body, hl := mlpServerWith(t, true)
	checkInferAllocs(t, s, body, hl)
	v, err := s.models.Lookup("mlp", "1")
	if err != nil {
		t.Fatal(err)
	}
	live, ok := v.Sampler().(*drift.Live)
	if !ok {
		t.Fatalf("sampler %T, want the monitor's *drift.Live", v.Sampler())
	}
	if n := live.Sampled(); n < 500 {
		t.Fatalf("the live profile sampled %d rows; want it to have seen every call", n)
	}
	// Sampling alone, on the tensors a call hands it: no allocation.
	inputs := []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 16}, Data: make([]byte, 64)}}
	outputs := []tensor.Tensor{{Name: "probs", DataType: tensor.FP32, Shape: []int64{1, 4}, Data: make([]byte, 16)}}
	before := live.Sampled()
	if allocs := testing.AllocsPerRun(100, func() { live.Sample(inputs, outputs) }); allocs != 0 {
		t.Errorf("Sample allocates %.1f times a call, want 0", allocs)
	}
	if n := live.Sampled() - before; n != 101 { // AllocsPerRun's warm-up call and its 100
		t.Errorf("Sample counted %d rows of 101 one-row calls", n)
	}
}

func checkInferAllocs(t *testing.T, s *Server, body []byte, hl int) {
	t.Helper()
	ctx := &fasthttp.RequestCtx{}
	hlen := strconv.Itoa(hl)
	call := func() { s.inferOnce(ctx, body, hlen) }
	call()
	if ctx.Response.StatusCode() != fasthttp.StatusOK {
		t.Fatalf("infer answered %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	n, _ := strconv.Atoi(string(ctx.Response.Header.Peek(headerLength)))
	resp, err := v2.DecodeResponse(ctx.Response.Body(), n)
	if err != nil || len(resp.Outputs) != 1 || !tensor.SameShape(resp.Outputs[0].Shape, []int64{1, 4}) {
		t.Fatalf("answer %+v, %v; want probs [1,4]", resp, err)
	}
	allocs := testing.AllocsPerRun(500, call)
	t.Logf("%.1f allocations per binary call, server to runtime and back", allocs)
	if allocs > inferAllocs+raceSlack {
		t.Errorf("%.1f allocations per binary call, budget %d", allocs, inferAllocs+raceSlack)
	}
}

// mlpServer is a server over a repository holding the mlp fixture alone,
// and a binary request body for it with its header length.
func mlpServer(t testing.TB) (*Server, []byte, int) {
	return mlpServerWith(t, false)
}

// mlpServerWith is mlpServer; with monitored, the version has a model card
// with a training profile and config.yaml a drift section, and a drift
// monitor has attached its live profile to it.
func mlpServerWith(t testing.TB, monitored bool) (*Server, []byte, int) {
	t.Helper()
	ortest.Init(t)
	dir := t.TempDir()
	b, err := os.ReadFile(ortest.Fixture(t, "mlp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "mlp", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mlp", "1", "model.onnx"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if monitored {
		writeMLPProfile(t, dir)
	}
	cfg := registry.DefaultConfig()
	cfg.Path = dir
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := registry.New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.CheckDriftSpecs(drift.CheckConfig)
	if err := reg.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	if monitored {
		mon, err := drift.New(reg, drift.DefaultConfig(), filepath.Join(dir, ".sluice", "drift"), log, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mon.Close)
		mon.Evaluate(context.Background(), time.Now())
	}
	x := tensor.Tensor{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 16}, Data: make([]byte, 64)}
	body, hl, err := v2.AppendRequest(nil, &tensor.Request{Inputs: []tensor.Tensor{x}, Outputs: []tensor.OutputRequest{{Name: "probs", Binary: true}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: DefaultConfig(), models: reg, log: log}, body, hl
}

// writeMLPProfile gives the mlp fixture a drift section and a card whose
// profile bins its 16 inputs over 20 bins each and its four class
// probabilities: the layout drift monitoring samples into.
func writeMLPProfile(t testing.TB, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	p := profile.Profile{Input: "x", Rows: 1000}
	for j := range 16 {
		col := make([]float64, 1000)
		for i := range col {
			col[i] = rng.NormFloat64()
		}
		p.Features = append(p.Features, profile.NumericFeature("x"+strconv.Itoa(j), j, col, profile.DefaultBins))
	}
	for j := range 4 {
		p.Outputs = append(p.Outputs, profile.FixedFeature("probs", j, profile.Score, []float64{0.25}, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}))
	}
	card, err := json.Marshal(map[string]any{"profile": p})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mlp", "1", registry.CardFile), card, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mlp", "config.yaml"), []byte("drift:\n  sample_rate: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkInferCall is one binary mlp call through the handler, in
// process: the request path's own cost, without the network.
func BenchmarkInferCall(b *testing.B) {
	s, body, hl := mlpServer(b)
	ctx := &fasthttp.RequestCtx{}
	hlen := strconv.Itoa(hl)
	b.ReportAllocs()
	for b.Loop() {
		s.inferOnce(ctx, body, hlen)
	}
}

// inferOnce sends one binary mlp call through the handler on a reused ctx.
func (s *Server) inferOnce(ctx *fasthttp.RequestCtx, body []byte, hlen string) {
	observedInferOnce(s.handle, ctx, body, hlen)
}
